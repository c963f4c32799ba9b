package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// awsCLI runs the AWS CLI (a client nobody here wrote) against p.
func awsCLI(t *testing.T, p *proc, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("aws", append([]string{"--endpoint-url", p.endpoint, "--output", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+devKeyID, "AWS_SECRET_ACCESS_KEY="+devSecret,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1", "AWS_PAGER=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestAWSCLITour runs the README's quick tour with the real AWS CLI.
func TestAWSCLITour(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI is not installed (pip install awscli); skipping the CLI tour")
	}
	p := startDev(t, t.TempDir())
	must := func(args ...string) map[string]any {
		t.Helper()
		out, err := awsCLI(t, p, args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		var m map[string]any
		if strings.TrimSpace(out) != "" {
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("aws %s: output is not JSON: %s", strings.Join(args, " "), out)
			}
		}
		return m
	}
	who := must("sts", "get-caller-identity")
	if who["Arn"] != "arn:aws:iam::000000000000:root" {
		t.Errorf("get-caller-identity: %v", who)
	}
	must("iam", "create-user", "--user-name", "app")
	key := must("iam", "create-access-key", "--user-name", "app")["AccessKey"].(map[string]any)
	if s, _ := key["SecretAccessKey"].(string); len(s) != 40 {
		t.Errorf("create-access-key: %v", key)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::000000000000:user/app"}]}`
	must("iam", "put-user-policy", "--user-name", "app", "--policy-name", "read-own", "--policy-document", doc)
	got := must("iam", "get-user-policy", "--user-name", "app", "--policy-name", "read-own")
	// The CLI URL-decodes IAM's policy document and parses it as JSON.
	pd, ok := got["PolicyDocument"].(map[string]any)
	if !ok || pd["Version"] != "2012-10-17" {
		t.Errorf("get-user-policy document: %#v", got["PolicyDocument"])
	}
	users := must("iam", "list-users")["Users"].([]any)
	if len(users) != 1 {
		t.Errorf("list-users: %v", users)
	}
	out, err := awsCLI(t, p, "iam", "get-user", "--user-name", "nobody")
	if err == nil || !strings.Contains(out, "NoSuchEntity") {
		t.Errorf("get-user of a missing user: %v %s", err, out)
	}
}
