package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"
)

// Record kinds. A secret is stored under its name (names are unique in an
// account and region); each version under the secret's ARN and version id,
// so a purged and recreated name never meets the old versions.
const (
	kindSecret  = "secretsmanager/secret"
	kindVersion = "secretsmanager/version"
)

// Staging labels with meaning to the service.
const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
	stagePending  = "AWSPENDING"
)

// maxVersions bounds stored versions per secret: deprecated (unlabelled)
// versions beyond it are removed oldest first, as AWS does at 100.
const maxVersions = 100

// Tag is a secret tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// RotationRules is a rotation schedule.
type RotationRules struct {
	AutomaticallyAfterDays int64  `json:"AutomaticallyAfterDays,omitempty"`
	ScheduleExpression     string `json:"ScheduleExpression,omitempty"`
	Duration               string `json:"Duration,omitempty"`
}

// Secret is a secret's metadata (never its values); it is the clear-text
// Data of its store record.
type Secret struct {
	ARN          string              `json:"arn"`
	Name         string              `json:"name"`
	Description  string              `json:"description,omitempty"`
	KmsKeyID     string              `json:"kmsKeyId,omitempty"` // as given; "" = aws/secretsmanager
	Tags         []Tag               `json:"tags,omitempty"`
	Policy       string              `json:"policy,omitempty"`
	Created      time.Time           `json:"created"`
	LastChanged  time.Time           `json:"lastChanged"`
	LastAccessed time.Time           `json:"lastAccessed,omitzero"`
	Deleted      time.Time           `json:"deleted,omitzero"`
	PurgeAt      time.Time           `json:"purgeAt,omitzero"`
	Rotation     bool                `json:"rotation,omitempty"`
	RotationURL  string              `json:"rotationUrl,omitempty"`
	Rules        *RotationRules      `json:"rules,omitempty"`
	LastRotated  time.Time           `json:"lastRotated,omitzero"`
	NextRotation time.Time           `json:"nextRotation,omitzero"`
	Versions     map[string]*Version `json:"versions,omitempty"`

	rev int64 // store record version for optimistic updates
}

// Version is one version's metadata.
type Version struct {
	Stages       []string  `json:"stages,omitempty"`
	Created      time.Time `json:"created"`
	LastAccessed time.Time `json:"lastAccessed,omitzero"`
	KeyARN       string    `json:"keyArn,omitempty"`
}

// deleted reports whether the secret is scheduled for deletion.
func (m *Secret) deleted() bool { return !m.Deleted.IsZero() }

// versionWith returns the id of the version carrying stage, or "".
func (m *Secret) versionWith(stage string) string {
	for id, v := range m.Versions {
		if hasStage(v.Stages, stage) {
			return id
		}
	}
	return ""
}

// stageMap returns version id -> stages for labelled versions.
func (m *Secret) stageMap() map[string][]string {
	out := map[string][]string{}
	for id, v := range m.Versions {
		if len(v.Stages) > 0 {
			out[id] = append([]string(nil), v.Stages...)
		}
	}
	return out
}

func hasStage(stages []string, s string) bool {
	for _, x := range stages {
		if x == s {
			return true
		}
	}
	return false
}

func removeStage(stages []string, s string) []string {
	out := stages[:0:0]
	for _, x := range stages {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// moveStage attaches stage to version id and detaches it from every other
// version. Moving AWSCURRENT makes the old current AWSPREVIOUS.
func (m *Secret) moveStage(stage, id string) {
	old := m.versionWith(stage)
	if old == id {
		return
	}
	if old != "" {
		m.Versions[old].Stages = removeStage(m.Versions[old].Stages, stage)
	}
	if v := m.Versions[id]; v != nil && !hasStage(v.Stages, stage) {
		v.Stages = append(v.Stages, stage)
	}
	if stage == stageCurrent && old != "" {
		m.moveStage(stagePrevious, old)
	}
}

// prune drops the oldest unlabelled versions over maxVersions and returns
// their ids so their value records can be deleted.
func (m *Secret) prune() []string {
	if len(m.Versions) <= maxVersions {
		return nil
	}
	var dep []string
	for id, v := range m.Versions {
		if len(v.Stages) == 0 {
			dep = append(dep, id)
		}
	}
	sort.Slice(dep, func(i, j int) bool { return m.Versions[dep[i]].Created.Before(m.Versions[dep[j]].Created) })
	var out []string
	for _, id := range dep {
		if len(m.Versions) <= maxVersions {
			break
		}
		delete(m.Versions, id)
		out = append(out, id)
	}
	return out
}

func versionKey(arn, id string) string { return arn + "/" + id }

func decodeSecret(r *store.Record) (*Secret, error) {
	m := new(Secret)
	if err := json.Unmarshal(r.Data, m); err != nil {
		return nil, fmt.Errorf("secretsmanager: decode %s: %w", r.ID, err)
	}
	if m.Versions == nil {
		m.Versions = map[string]*Version{}
	}
	m.rev = r.Version
	return m, nil
}

func encodeSecret(m *Secret) *store.Record {
	b, _ := json.Marshal(m) // plain data; cannot fail
	return &store.Record{Kind: kindSecret, ID: m.Name, Data: b, Version: m.rev}
}

// nameFromID finds the secret name a SecretId names: a name, a full ARN
// (name plus "-" and six characters) or a partial ARN (no suffix). It
// returns the candidate names to try, best first, and the full ARN to
// match exactly ("" for names and partial ARNs).
func (s *Service) candidates(id string) (names []string, fullARN []string) {
	prefix := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:", s.cfg.Region, s.cfg.AccountID)
	if !strings.HasPrefix(id, "arn:") {
		return []string{id}, []string{""}
	}
	if !strings.HasPrefix(id, prefix) {
		return nil, nil
	}
	rest := strings.TrimPrefix(id, prefix)
	if i := len(rest) - 7; i > 0 && rest[i] == '-' {
		names = append(names, rest[:i])
		fullARN = append(fullARN, id)
	}
	names = append(names, rest)
	fullARN = append(fullARN, "")
	return names, fullARN
}

// load finds a secret by SecretId. A secret whose recovery window has
// ended is reported as not found.
func (s *Service) load(ctx context.Context, r store.Reader, id string) (*Secret, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: You must provide a SecretId.", ErrInvalidParameter)
	}
	names, arns := s.candidates(id)
	for i, name := range names {
		rec, err := r.Get(ctx, kindSecret, name)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
			continue
		}
		if err != nil {
			return nil, err
		}
		m, err := decodeSecret(rec)
		if err != nil {
			return nil, err
		}
		if arns[i] != "" && m.ARN != arns[i] {
			continue
		}
		if m.deleted() && !s.now().Before(m.PurgeAt) {
			return nil, ErrNotFound
		}
		return m, nil
	}
	return nil, ErrNotFound
}

// loadRead is load for GetSecretValue: it may answer from the metadata
// cache (see Config.MetadataCacheTTL). Authorization is unchanged: the
// caller still authorizes against the returned record on every call; what
// the cache bounds is how old that record may be when another server
// changed it. The purge check is made again on every hit.
func (s *Service) loadRead(ctx context.Context, id string) (*Secret, error) {
	if s.meta == nil {
		return s.load(ctx, s.cfg.Store, id)
	}
	if m, ok := s.meta.c.Get(id); ok {
		if m.deleted() && !s.now().Before(m.PurgeAt) {
			return nil, ErrNotFound
		}
		return m, nil
	}
	gen := s.meta.generation()
	m, err := s.load(ctx, s.cfg.Store, id)
	if err != nil {
		return nil, err
	}
	s.meta.put(id, m, gen)
	return m, nil
}

// tx runs fn in a store transaction and then clears the metadata cache,
// so that this server's next read sees the write. Every write of the
// Service goes through here.
func (s *Service) tx(ctx context.Context, fn func(tx store.Tx) error) error {
	if s.meta != nil {
		defer s.meta.invalidate()
	}
	return s.cfg.Store.Tx(ctx, fn)
}

// update runs a read-modify-write of one secret in a transaction, retrying
// on write conflicts. fn may also write other records through tx.
func (s *Service) update(ctx context.Context, id string, fn func(tx store.Tx, m *Secret) error) (*Secret, error) {
	var out *Secret
	err := store.Retry(ctx, func() error {
		return s.tx(ctx, func(tx store.Tx) error {
			m, err := s.load(ctx, tx, id)
			if err != nil {
				return err
			}
			if err := fn(tx, m); err != nil {
				return err
			}
			rec := encodeSecret(m)
			if err := tx.Update(ctx, rec); err != nil {
				return err
			}
			m.rev = rec.Version
			out = m
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// purgeRecords deletes a secret and all its version records inside tx.
func purgeRecords(ctx context.Context, tx store.Tx, m *Secret) error {
	for id := range m.Versions {
		if err := tx.Delete(ctx, kindVersion, versionKey(m.ARN, id)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return tx.Delete(ctx, kindSecret, m.Name)
}

// PurgeDue removes every secret whose recovery window has ended and
// returns how many it removed. The background loop calls it; tests may too.
func (s *Service) PurgeDue(ctx context.Context) (int, error) {
	recs, err := s.cfg.Store.List(ctx, kindSecret, store.ListOptions{})
	if err != nil {
		return 0, err
	}
	n := 0
	now := s.now()
	for _, rec := range recs {
		m, err := decodeSecret(rec)
		if err != nil || !m.deleted() || now.Before(m.PurgeAt) {
			continue
		}
		err = s.tx(ctx, func(tx store.Tx) error {
			cur, err := tx.Get(ctx, kindSecret, m.Name)
			if err != nil {
				return err
			}
			if cur.Version != m.rev {
				return store.ErrConflict // restored or changed meanwhile
			}
			return purgeRecords(ctx, tx, m)
		})
		if err == nil {
			n++
		} else if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return n, err
		}
	}
	return n, nil
}
