package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

func TestDevServerPrintsWorkingCredentials(t *testing.T) {
	p := startDev(t, t.TempDir())
	out := p.output()
	for _, want := range []string{"export AWS_ACCESS_KEY_ID=" + devKeyID, "export AWS_SECRET_ACCESS_KEY=" + devSecret, "aws --endpoint-url " + p.endpoint + " sts get-caller-identity"} {
		if !strings.Contains(out, want) {
			t.Errorf("dev server output lacks %q:\n%s", want, out)
		}
	}
	who, err := sts.NewFromConfig(p.awsConfig()).GetCallerIdentity(ctxT(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(aws.ToString(who.Arn), ":root") {
		t.Errorf("caller %s", aws.ToString(who.Arn))
	}
}

func TestDevServerRefusesNonLoopback(t *testing.T) {
	out, err := exec.Command(binary, "server", "--dev", "--listen", "0.0.0.0:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "loopback") {
		t.Errorf("dev mode on 0.0.0.0 should be refused with a reason: %v %s", err, out)
	}
}

// TestCrashSafety kills the server with SIGKILL in the middle of a stream
// of writes and checks, after a restart, that every acknowledged write is
// there and the audit chain still verifies.
func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	p := startDev(t, dir)
	client := iam.NewFromConfig(p.awsConfig())
	ctx := ctxT(t)

	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("crash-%d-%d", w, i)
				if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
					return // the server died under us
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		}(w)
	}
	testwait.For(t, 0, "200 acknowledged writes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 200
	})
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	_ = p.wait(t, 10*time.Second)

	p2 := startDev(t, dir)
	client = iam.NewFromConfig(p2.awsConfig())
	have := map[string]bool{}
	pager := iam.NewListUsersPaginator(client, &iam.ListUsersInput{})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page.Users {
			have[aws.ToString(u.UserName)] = true
		}
	}
	missing := 0
	for _, name := range acked {
		if !have[name] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost after SIGKILL", missing, len(acked))
	}
	t.Logf("%d acknowledged writes all survived SIGKILL", len(acked))
	out, err := exec.Command(binary, "audit", "verify", filepath.Join(dir, "audit.log")).CombinedOutput()
	if err != nil {
		t.Fatalf("audit chain broken after the crash: %s", out)
	}
}

// TestGracefulShutdown sends SIGTERM while clients are busy: the process
// exits 0, and every request that got an answer is in the audit log.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	p := startDev(t, dir)
	client := sts.NewFromConfig(p.awsConfig())
	ctx := ctxT(t)
	var mu sync.Mutex
	var answered []string
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
				var re interface{ ServiceRequestID() string }
				if err == nil {
					id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
					mu.Lock()
					answered = append(answered, id)
					mu.Unlock()
					continue
				}
				{
					var ae smithy.APIError
					if errors.As(err, &ae) && errors.As(err, &re) {
						mu.Lock()
						answered = append(answered, re.ServiceRequestID())
						mu.Unlock()
						continue
					}
					return
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	wg.Wait()
	if len(answered) < 10 {
		t.Fatalf("only %d requests answered before SIGTERM: the test proves nothing", len(answered))
	}
	raw, err := os.ReadFile(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range answered {
		if !strings.Contains(string(raw), id) {
			t.Errorf("answered request %s is not in the audit log", id)
		}
	}
	if out, err := exec.Command(binary, "audit", "verify", filepath.Join(dir, "audit.log")).CombinedOutput(); err != nil {
		t.Fatalf("audit verify after shutdown: %s", out)
	}
}

func TestAuditVerifyDetectsTampering(t *testing.T) {
	dir := t.TempDir()
	p := startDev(t, dir)
	client := iam.NewFromConfig(p.awsConfig())
	path := filepath.Join(dir, "audit.log")
	for i, name := range []string{"u1", "u2", "u3"} {
		if _, err := client.CreateUser(ctxT(t), &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// logrotate's rename, then SIGHUP: the chain goes on in a
			// new file at the path.
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			testwait.For(t, 10*time.Second, "SIGHUP to reopen the audit log", func() bool {
				_, err := os.Stat(path)
				return err == nil
			})
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.wait(t, 30*time.Second)
	key := filepath.Join(dir, "master.key")
	files := []string{path + ".1", path}
	verify := func(args ...string) (string, error) {
		out, err := exec.Command(binary, append([]string{"audit", "verify"}, args...)...).CombinedOutput()
		return string(out), err
	}
	// .1: start, intent, outcome, rotate; audit.log: start, 2 × (intent,
	// outcome), close.
	out, err := verify(append([]string{"--sequence", "--master-key-file", key}, files...)...)
	if err != nil || !strings.Contains(out, "10 events, chain intact") || !strings.Contains(out, "10 lines authenticated by eventHmac") ||
		!strings.Contains(out, "ends with a close checkpoint") {
		t.Fatalf("untouched rotated log: %v %s", err, out)
	}
	pub, err := exec.Command(binary, "audit", "public-key", "--master-key-file", key).Output()
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(t.TempDir(), "audit.pub")
	if err := os.WriteFile(pubFile, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(append([]string{"--sequence", "--public-key", pubFile}, files...)...); err != nil || !strings.Contains(out, "signed through line 10") {
		t.Fatalf("with the public key: %v %s", err, out)
	}
	if out, err := verify("--sequence", "--master-key-file", key, path); err == nil || !strings.Contains(out, "does not start here") {
		t.Fatalf("missing first file not reported: %v %s", err, out)
	}
	raw, _ := os.ReadFile(path)
	tampered := strings.Replace(string(raw), `"userName":"u2"`, `"userName":"u9"`, 1)
	if tampered == string(raw) {
		t.Fatal("test could not find the line to tamper with")
	}
	if err := os.WriteFile(path, []byte(tampered), 0o600); err != nil {
		t.Fatal(err)
	}
	// Line 3 of audit.log is u2's outcome (1: start, 2: its intent).
	out, err = verify(path, "--allow-partial-start")
	if err == nil || !strings.Contains(out, "line 3") {
		t.Fatalf("tampered line 3 not reported: %v %s", err, out)
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, err := exec.Command(binary, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "bulwark ") {
		t.Errorf("bulwark version: %v %q", err, out)
	}
	out, err = exec.Command(binary, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "server") || !strings.Contains(string(out), "audit") {
		t.Errorf("bulwark --help: %v %s", err, out)
	}
	out, err = exec.Command(binary, "server").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--dev") {
		t.Errorf("bulwark server without a mode should explain the choice: %v %s", err, out)
	}
}

// TestDevRestartRetiresOldCredentials: a dev server restarted on the same
// data with new credentials no longer accepts the ones it printed before.
func TestDevRestartRetiresOldCredentials(t *testing.T) {
	dir := t.TempDir()
	p := startDev(t, dir)
	old := p.awsConfig()
	if _, err := sts.NewFromConfig(old).GetCallerIdentity(ctxT(t), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.wait(t, 30*time.Second)

	p2 := startDevWith(t, dir, "AKIAE2ESECONDROOT000", "second-e2e-secret-access-key-0123456789")
	cfg := old
	cfg.BaseEndpoint = aws.String(p2.endpoint)
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctxT(t), &sts.GetCallerIdentityInput{}); err == nil {
		t.Fatal("the first start's root credentials still work after a restart with new ones")
	}
	cfg.Credentials = staticCreds("AKIAE2ESECONDROOT000", "second-e2e-secret-access-key-0123456789")
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctxT(t), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("the new credentials: %v", err)
	}
}
