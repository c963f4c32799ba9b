package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwarkd/bulwark/internal/audit"
	"github.com/bulwarkd/bulwark/internal/seal"
	"github.com/bulwarkd/bulwark/internal/server"
	"github.com/bulwarkd/bulwark/internal/store"
)

// resealFlags are the flags of `bulwark admin reseal`.
type resealFlags struct {
	configPath string
	storage    string
	dataDir    string
	batch      int
	check      bool
	legacy     bool
}

func newAdminCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Maintenance of a server's database (master key rotation)"}
	f := &resealFlags{}
	reseal := &cobra.Command{
		Use:   "reseal",
		Short: "Re-seal every stored secret and re-tag every record under the current master key (step 2 of a key rotation)",
		Long: `Re-seal every stored secret, and remake every record's integrity tag,
under the current master key, so that the previous master keys can be
removed. Safe while servers run: it works in small transactions with
version checks. Idempotent: run it again and it re-seals nothing. See
"Master key rotation" in docs/operations.md.

Every record's integrity tag is checked first: a record altered outside
Bulwark stops the run, naming it, so a rotation never re-tags it.

After upgrading from a Bulwark without record integrity tags, run once,
with the servers stopped:

  bulwark admin reseal --config FILE --authenticate-legacy

which tags the untagged records as they are (see "Record integrity" in
docs/operations.md for what to check first).

  bulwark admin reseal --config /etc/bulwark/bulwark.yaml     keys and storage from the server's file
  bulwark admin reseal --storage postgres://…                 keys from BULWARK_MASTER_KEY and
                                                               BULWARK_PREVIOUS_MASTER_KEYS (as --dev)
  bulwark admin reseal --config FILE --check                  only count; exit 1 if any secret
                                                               is not under the current key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReseal(cmd, f)
		},
	}
	fl := reseal.Flags()
	fl.StringVar(&f.configPath, "config", "", "the server's configuration file (YAML)")
	fl.StringVar(&f.storage, "storage", "", "storage DSN, as for \"bulwark server --dev --storage\" (keys from the environment)")
	fl.StringVar(&f.dataDir, "data-dir", "", "dev data directory (its bulwark.db and, without BULWARK_MASTER_KEY, its master.key)")
	fl.IntVar(&f.batch, "batch", store.DefaultResealBatch, "rows per transaction")
	fl.BoolVar(&f.check, "check", false, "write nothing; fail if any secret or record tag is not under the current key")
	fl.BoolVar(&f.legacy, "authenticate-legacy", false, "also tag records that have no integrity tag, trusting them as they are (once, after upgrading; servers stopped)")
	cmd.AddCommand(reseal)
	return cmd
}

// resealConfig gathers the storage and keys the flags name.
func resealConfig(f *resealFlags) (server.Config, error) {
	if f.configPath != "" {
		if f.storage != "" || f.dataDir != "" {
			return server.Config{}, errors.New("--config names the storage and keys: leave out --storage and --data-dir")
		}
		fc, err := loadFileConfig(f.configPath)
		if err != nil {
			return server.Config{}, err
		}
		return fc.serverConfig()
	}
	if f.storage == "" && f.dataDir == "" {
		return server.Config{}, errors.New("give --config FILE, or --storage DSN / --data-dir DIR with the keys in the environment")
	}
	var key []byte
	var err error
	if f.dataDir != "" && os.Getenv("BULWARK_MASTER_KEY") == "" {
		// Never create a key here (as a dev server would): a new key cannot
		// open anything, and the file would shadow the right one.
		path := filepath.Join(f.dataDir, "master.key")
		if _, serr := os.Stat(path); serr != nil {
			return server.Config{}, fmt.Errorf("no BULWARK_MASTER_KEY and no %s: %w", path, serr)
		}
		key, _, err = seal.LoadOrCreateKeyFile(path)
	} else if key, err = seal.KeyFromBase64(os.Getenv("BULWARK_MASTER_KEY")); err != nil {
		err = fmt.Errorf("BULWARK_MASTER_KEY: %w", err)
	}
	if err != nil {
		return server.Config{}, err
	}
	prev, err := envPreviousMasterKeys()
	if err != nil {
		return server.Config{}, err
	}
	return server.Config{DataDir: f.dataDir, Storage: f.storage, MasterKey: key, PreviousMasterKeys: prev}, nil
}

func runReseal(cmd *cobra.Command, f *resealFlags) error {
	cfg, err := resealConfig(f)
	if err != nil {
		return err
	}
	keyring, err := seal.NewKeyring(cfg.MasterKey, nil, cfg.PreviousMasterKeys...)
	if err != nil {
		return err
	}
	backend, err := server.OpenBackend(cfg)
	if err != nil {
		return err
	}
	defer backend.Close()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "current key id %08x; opening with %08x\n", keyring.KeyID(), keyring.KeyIDs())
	start := time.Now()
	last := time.Time{}
	p, err := store.Reseal(cmd.Context(), backend, keyring, store.ResealOptions{
		BatchSize:          f.batch,
		DryRun:             f.check,
		AuthenticateLegacy: f.legacy,
		Progress: func(p store.ResealProgress) {
			// One line a second at most: a large database has thousands of
			// batches, and this goes to a terminal or a job's log.
			if now := time.Now(); now.Sub(last) >= time.Second {
				last = now
				printReseal(out, "progress", p, f.check)
			}
		},
	})
	if err != nil {
		printReseal(out, "stopped", p, f.check)
		if errors.Is(err, store.ErrIntegrity) {
			return fmt.Errorf("%w\n(see \"Record integrity\" in docs/operations.md)", err)
		}
		return err
	}
	printReseal(out, fmt.Sprintf("done in %v", time.Since(start).Round(time.Millisecond)), p, f.check)
	if !f.check {
		if err := rekeyAuditLog(out, cfg); err != nil {
			return err
		}
	}
	if f.check && p.Legacy > 0 {
		return fmt.Errorf("%d records have no integrity tag: after an upgrade, run `bulwark admin reseal --authenticate-legacy` once (servers stopped); otherwise the database was altered", p.Legacy)
	}
	if f.check && p.Resealed > 0 {
		return fmt.Errorf("%d records are not sealed or tagged under the current key: run `bulwark admin reseal` before removing a previous key", p.Resealed)
	}
	return nil
}

func printReseal(out io.Writer, what string, p store.ResealProgress, check bool) {
	verb := "re-sealed"
	if check {
		verb = "under a previous key"
	}
	legacy := ""
	if p.Legacy > 0 {
		legacy = fmt.Sprintf("; %d of them had no integrity tag", p.Legacy)
	}
	fmt.Fprintf(out, "%s: %d rows scanned, %d with a secret, %d %s (at %s)%s\n", what, p.Scanned, p.Sealed, p.Resealed, verb, p.Kind, legacy)
}

// rekeyAuditLog continues this machine's audit log under the current master
// key: opening it with the previous keys checks its last line, and the open
// and close checkpoints are then keyed and signed under the current key. A
// server started after the old key is retired would otherwise find the
// chain's last line keyed under a key it no longer holds and refuse to
// continue it. A log elsewhere (another replica's) is continued by that
// server, which holds both keys during the rotation.
func rekeyAuditLog(out io.Writer, cfg server.Config) error {
	path := cfg.AuditLogPath
	if path == "" {
		if cfg.DataDir == "" {
			return nil
		}
		path = filepath.Join(cfg.DataDir, "audit.log")
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	keys, err := audit.DeriveKeys(cfg.MasterKey)
	if err != nil {
		return err
	}
	var prev []*audit.Keys
	for _, k := range cfg.PreviousMasterKeys {
		pk, err := audit.DeriveKeys(k)
		if err != nil {
			return err
		}
		prev = append(prev, pk)
	}
	l, err := audit.Open(path, audit.Options{Sync: true, Keys: keys, PreviousKeys: prev})
	if err != nil {
		return fmt.Errorf("audit log %s: %w (give the key it was written under as a previous key)", path, err)
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("audit log %s: %w", path, err)
	}
	fmt.Fprintf(out, "audit log %s: continued under the current key\n", path)
	return nil
}
