package audit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwarkd/bulwark/internal/audit"
	"github.com/bulwarkd/bulwark/internal/redact"
)

func Example() {
	dir, _ := os.MkdirTemp("", "audit")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "audit.log")

	l, err := audit.Open(path, audit.Options{Sync: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = l.Append(context.Background(), &audit.Event{
		EventTime:         time.Date(2026, 11, 27, 18, 5, 45, 0, time.UTC),
		EventSource:       "secretsmanager.amazonaws.com",
		EventName:         "GetSecretValue",
		AWSRegion:         "us-east-1",
		UserIdentity:      audit.UserIdentity{Type: audit.IdentityIAMUser, UserName: "alice"},
		RequestParameters: redact.Value(map[string]string{"SecretId": "prod/db"}),
		ResponseElements:  redact.Value(map[string]string{"ARN": "arn:...", "SecretString": "hunter2"}),
		RequestID:         "req-1",
		ReadOnly:          true,
	})
	if err != nil {
		fmt.Println("refuse the request:", err)
		return
	}
	l.Close()

	n, err := audit.VerifyFile(path)
	fmt.Println(n, err)
	// Output: 1 <nil>
}
