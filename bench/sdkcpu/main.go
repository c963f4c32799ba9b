// Command sdkcpu measures what a real client costs `bulwark server --dev`:
// aws-sdk-go-v2 default clients (default HTTP transport and retryer) call
// the server from 1, 4, 16 and 64 goroutines, and the server process's CPU
// time (utime+stime from /proc/<pid>/stat) is divided by the requests that
// succeeded. On a shared machine CPU time per request is far steadier than
// requests per second, which the other builds running beside it change.
//
// Operations: sts:GetCallerIdentity, secretsmanager:GetSecretValue of a
// 4 KB secret, and kms:Decrypt with an RSA_2048 key (RSAES_OAEP_SHA_256),
// the last also as a ratio to raw rsa.DecryptOAEP CPU per operation
// measured in this process just before each KMS run.
//
// Several binaries can be compared side by side: each gets its own server
// (default configuration, durable audit log), and every round measures
// every binary at every point, alternating their order, so load from
// elsewhere falls on both. Medians over the rounds are printed as a
// markdown table.
//
//	sdkcpu -bin before=/tmp/bulwark-main -bin after=./bulwark -rounds 5 -duration 5s
//
// -floor adds bench/sdkcpu/floor, a net/http server that does nothing, to
// the sts rows: what the same client traffic costs any Go HTTP server here.
//
// With -mem it instead loads secrets, certificates and KMS keys through the
// SDK, reads each once (so the server's caches hold them) and prints the
// server's resident set size (VmRSS and its peak, VmHWM):
//
//	sdkcpu -mem -bin after=./bulwark -secrets 10000 -certs 10000 -keys 1000
package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const (
	accessKeyID = "AKIABENCHSDKCPU00000"
	secretKey   = "bench-sdkcpu-secret-access-key-0123456789"
)

type binFlag []string

func (b *binFlag) String() string     { return strings.Join(*b, ",") }
func (b *binFlag) Set(s string) error { *b = append(*b, s); return nil }

func main() {
	var bins binFlag
	var servers []*server
	flag.Var(&bins, "bin", "NAME=PATH of a bulwark binary (repeat to compare side by side)")
	var envs binFlag
	flag.Var(&envs, "env", "NAME:VAR=VALUE, an environment variable for binary NAME's server (repeat; e.g. after:GOGC=200)")
	duration := flag.Duration("duration", 5*time.Second, "measured time per operation, caller count, binary and round")
	rounds := flag.Int("rounds", 3, "rounds; medians are quoted")
	callersFlag := flag.String("callers", "1,4,16,64", "comma-separated numbers of concurrent callers")
	opsFlag := flag.String("ops", "sts,secret,kms", "operations: sts, secret, kms")
	mem := flag.Bool("mem", false, "load secrets, certificates and keys, then report the server's RSS")
	nSecrets := flag.Int("secrets", 10000, "with -mem: secrets to create")
	nCerts := flag.Int("certs", 10000, "with -mem: certificates to request")
	nKeys := flag.Int("keys", 1000, "with -mem: KMS keys to create")
	floor := flag.String("floor", "", "path of bench/sdkcpu/floor, a do-nothing net/http server measured beside the binaries for sts only: the floor under their figures")
	floorLoop := flag.Bool("floorloop", false, "with -floor: also measure the floor's minimal hand-written HTTP/1.1 loop (FLOOR_LOOP=1): what is left when net/http's own per-request work is gone")
	flag.Parse()
	if len(bins) == 0 {
		fail(errors.New("give at least one -bin NAME=PATH"))
	}
	defer stopAll()
	for _, b := range bins {
		name, path, ok := strings.Cut(b, "=")
		if !ok {
			name, path = filepath.Base(b), b
		}
		var env []string
		for _, e := range envs {
			if n, kv, ok := strings.Cut(e, ":"); ok && n == name {
				env = append(env, kv)
			}
		}
		s, err := startServer(name, path, env)
		if err != nil {
			fail(err)
		}
		servers = append(servers, s)
		running = append(running, s)
	}
	if *floor != "" && !*mem {
		floors := map[string][]string{"floor": nil}
		if *floorLoop {
			floors["floor-loop"] = []string{"FLOOR_LOOP=1"}
		}
		for _, name := range []string{"floor", "floor-loop"} {
			env, ok := floors[name]
			if !ok {
				continue
			}
			s, err := startServer(name, *floor, env)
			if err != nil {
				fail(err)
			}
			s.stub = true
			servers = append(servers, s)
			running = append(running, s)
		}
	}
	if *mem {
		for _, s := range servers {
			if err := loadAndMeasure(s, *nSecrets, *nCerts, *nKeys); err != nil {
				fail(err)
			}
		}
		return
	}
	var callers []int
	for _, c := range strings.Split(*callersFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fail(fmt.Errorf("-callers: %q is not a positive number", c))
		}
		callers = append(callers, n)
	}
	ops := strings.Split(*opsFlag, ",")
	for _, s := range servers {
		if s.stub {
			continue
		}
		if err := s.setUp(); err != nil {
			fail(err)
		}
	}
	results := map[key][]sample{}
	for round := 0; round < *rounds; round++ {
		for _, op := range ops {
			for _, c := range callers {
				order := slices.Clone(servers)
				if round%2 == 1 {
					slices.Reverse(order)
				}
				for _, s := range order {
					if s.stub && op != "sts" {
						continue
					}
					var raw float64
					if op == "kms" {
						raw = rawDecryptCPU(min(c, runtime.NumCPU()), *duration/2)
					}
					smp, err := s.measure(op, c, *duration)
					if err != nil {
						fail(err)
					}
					smp.rawCPU = raw
					k := key{s.name, op, c}
					results[k] = append(results[k], smp)
					fmt.Fprintf(os.Stderr, "round %d %-8s %-6s %3d callers: %7.1f µs CPU/req  %7.0f req/s  errors %d%s\n",
						round+1, s.name, op, c, smp.cpuPerReq(), smp.rps(), smp.errors, rawNote(smp))
				}
			}
		}
	}
	printTable(os.Stdout, servers, ops, callers, results, *rounds, *duration)
}

func rawNote(s sample) string {
	if s.rawCPU == 0 {
		return ""
	}
	return fmt.Sprintf("  raw %.1f µs  ratio %.2f", s.rawCPU, s.cpuPerReq()/s.rawCPU)
}

type key struct {
	bin     string
	op      string
	callers int
}

// sample is one measurement.
type sample struct {
	ok, errors int64
	serverCPU  time.Duration
	clientCPU  time.Duration
	wall       time.Duration
	p50, p99   time.Duration
	rawCPU     float64 // µs per raw rsa.DecryptOAEP, kms only
}

func (s sample) cpuPerReq() float64 {
	if s.ok == 0 {
		return 0
	}
	return float64(s.serverCPU.Microseconds()) / float64(s.ok)
}

func (s sample) clientPerReq() float64 {
	if s.ok == 0 {
		return 0
	}
	return float64(s.clientCPU.Microseconds()) / float64(s.ok)
}

func (s sample) rps() float64 { return float64(s.ok) / s.wall.Seconds() }

// server is one running `bulwark server --dev`.
type server struct {
	name, path string
	cmd        *exec.Cmd
	dir        string
	endpoint   string
	cfg        aws.Config
	rsaKeyID   string
	blob       []byte
	stub       bool // the floor server: sts only, nothing to set up
}

func startServer(name, path string, env []string) (*server, error) {
	dir, err := os.MkdirTemp("", "sdkcpu-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "server", "--dev", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--dev-access-key-id", accessKeyID, "--dev-secret-access-key", secretKey, "--log-level", "error")
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	s := &server{name: name, path: path, cmd: cmd, dir: dir}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "endpoint" {
			s.endpoint = f[1]
			break
		}
	}
	if s.endpoint == "" {
		s.stop()
		return nil, fmt.Errorf("%s: no endpoint in the dev server's banner", path)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(accessKeyID, secretKey, "")),
		config.WithBaseEndpoint(s.endpoint))
	if err != nil {
		s.stop()
		return nil, err
	}
	s.cfg = cfg
	fmt.Fprintf(os.Stderr, "%s: %s %s (pid %d) at %s\n", name, strings.Join(env, " "), path, cmd.Process.Pid, s.endpoint)
	return s, nil
}

func (s *server) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		_ = s.cmd.Wait()
	}
	_ = os.RemoveAll(s.dir)
}

const secretName = "bench-4k"

// setUp creates the 4 KB secret and the RSA key, and encrypts the
// plaintext every Decrypt opens.
func (s *server) setUp() error {
	ctx := context.Background()
	value := strings.Repeat("0123456789abcdef", 256) // 4 KB
	if _, err := secretsmanager.NewFromConfig(s.cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: &value}); err != nil {
		return fmt.Errorf("%s: CreateSecret: %w", s.name, err)
	}
	k := kms.NewFromConfig(s.cfg)
	out, err := k.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecRsa2048, KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt})
	if err != nil {
		return fmt.Errorf("%s: CreateKey: %w", s.name, err)
	}
	s.rsaKeyID = *out.KeyMetadata.KeyId
	enc, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: &s.rsaKeyID, Plaintext: make([]byte, 32), EncryptionAlgorithm: kmstypes.EncryptionAlgorithmSpecRsaesOaepSha256})
	if err != nil {
		return fmt.Errorf("%s: Encrypt: %w", s.name, err)
	}
	s.blob = enc.CiphertextBlob
	// Warm up: connections, caches, the first page reads.
	for _, op := range []string{"sts", "secret", "kms"} {
		if _, err := s.measure(op, 4, 300*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// call returns the function one caller runs for op; each caller shares
// the one client, as an application would.
func (s *server) call(op string) func(context.Context) error {
	switch op {
	case "sts":
		c := sts.NewFromConfig(s.cfg)
		return func(ctx context.Context) error {
			_, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			return err
		}
	case "secret":
		c := secretsmanager.NewFromConfig(s.cfg)
		return func(ctx context.Context) error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretName)})
			return err
		}
	case "kms":
		c := kms.NewFromConfig(s.cfg)
		return func(ctx context.Context) error {
			_, err := c.Decrypt(ctx, &kms.DecryptInput{KeyId: &s.rsaKeyID, CiphertextBlob: s.blob, EncryptionAlgorithm: kmstypes.EncryptionAlgorithmSpecRsaesOaepSha256})
			return err
		}
	}
	fail(fmt.Errorf("unknown operation %q: use sts, secret or kms", op))
	return nil
}

// measure runs callers goroutines calling op for d and returns the server
// CPU time they cost.
func (s *server) measure(op string, callers int, d time.Duration) (sample, error) {
	fn := s.call(op)
	ctx := context.Background()
	var ok, bad atomic.Int64
	var firstErr atomic.Pointer[error]
	lat := make([][]time.Duration, callers)
	cpu0, err := procCPU(s.cmd.Process.Pid)
	if err != nil {
		return sample{}, err
	}
	self0 := selfCPU()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := fn(ctx); err != nil {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				lat[i] = append(lat[i], time.Since(t))
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	cpu1, err := procCPU(s.cmd.Process.Pid)
	if err != nil {
		return sample{}, err
	}
	if p := firstErr.Load(); p != nil && ok.Load() == 0 {
		return sample{}, fmt.Errorf("%s %s: every call failed: %w", s.name, op, *p)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	smp := sample{ok: ok.Load(), errors: bad.Load(), serverCPU: cpu1 - cpu0, clientCPU: selfCPU() - self0, wall: wall}
	if len(all) > 0 {
		smp.p50, smp.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	return smp, nil
}

// clockTick is USER_HZ, the unit of utime and stime in /proc: 100 on
// every Linux architecture Go supports.
const clockTick = 100

// procCPU returns utime+stime of process pid.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// selfCPU returns this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var (
	rawOnce sync.Once
	rawKey  *rsa.PrivateKey
	rawBlob []byte
)

// rawDecryptCPU returns the CPU time, in µs, of one rsa.DecryptOAEP
// (SHA-256, RSA 2048) in this process, from workers goroutines over d.
func rawDecryptCPU(workers int, d time.Duration) float64 {
	rawOnce.Do(func() {
		var err error
		if rawKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			fail(err)
		}
		if rawBlob, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, &rawKey.PublicKey, make([]byte, 32), nil); err != nil {
			fail(err)
		}
	})
	var n atomic.Int64
	c0 := selfCPU()
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := rawKey.Decrypt(rand.Reader, rawBlob, &rsa.OAEPOptions{Hash: crypto.SHA256}); err != nil {
					fail(err)
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64((selfCPU() - c0).Microseconds()) / float64(n.Load())
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

var opNames = map[string]string{
	"sts":    "sts:GetCallerIdentity",
	"secret": "secretsmanager:GetSecretValue 4 KB",
	"kms":    "kms:Decrypt RSA_2048 OAEP-SHA256",
}

func printTable(w io.Writer, servers []*server, ops []string, callers []int, res map[key][]sample, rounds int, d time.Duration) {
	fmt.Fprintf(w, "\n%d rounds of %s per point, %d CPUs, %s; medians (min–max of server CPU per request)\n\n", rounds, d, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintln(w, "| call | callers | binary | server CPU µs/request | × raw RSA | client CPU µs/request | requests/s | p50 ms | p99 ms | errors |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, op := range ops {
		for _, c := range callers {
			for _, s := range servers {
				smp := res[key{s.name, op, c}]
				if len(smp) == 0 {
					continue
				}
				var cpu, ratio, client, rps, p50, p99 []float64
				var errs int64
				for _, x := range smp {
					cpu = append(cpu, x.cpuPerReq())
					client = append(client, x.clientPerReq())
					rps = append(rps, x.rps())
					p50 = append(p50, float64(x.p50.Microseconds())/1000)
					p99 = append(p99, float64(x.p99.Microseconds())/1000)
					if x.rawCPU > 0 {
						ratio = append(ratio, x.cpuPerReq()/x.rawCPU)
					}
					errs += x.errors
				}
				r := "–"
				if len(ratio) > 0 {
					r = fmt.Sprintf("%.2f", median(ratio))
				}
				fmt.Fprintf(w, "| %s | %d | %s | **%.0f** (%.0f–%.0f) | %s | %.0f | %.0f | %.2f | %.2f | %d |\n",
					opNames[op], c, s.name, median(cpu), slices.Min(cpu), slices.Max(cpu), r, median(client), median(rps), median(p50), median(p99), errs)
			}
		}
	}
}

// running are the servers started, stopped on every way out.
var running []*server

func stopAll() {
	for _, s := range running {
		s.stop()
	}
	running = nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sdkcpu:", err)
	stopAll()
	os.Exit(1)
}
