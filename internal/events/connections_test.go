package events_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"
)

// TestRefusedOAuthConnectionKeepsSecretsOutOfTheAuditLog: the request is
// recorded before the handler refuses OAuth, so its client secret and its
// secret HTTP parameters must be hidden in the record.
func TestRefusedOAuthConnectionKeepsSecretsOutOfTheAuditLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, c := newClient(t)
	_, err := c.CreateConnection(ctx, &eventbridge.CreateConnectionInput{
		Name: aws.String("oauth"), AuthorizationType: types.ConnectionAuthorizationTypeOauthClientCredentials,
		AuthParameters: &types.CreateConnectionAuthRequestParameters{OAuthParameters: &types.CreateConnectionOAuthRequestParameters{
			AuthorizationEndpoint: aws.String("https://auth.example.com/token"),
			HttpMethod:            types.ConnectionOAuthHttpMethodPost,
			ClientParameters:      &types.CreateConnectionOAuthClientRequestParameters{ClientID: aws.String("client-id"), ClientSecret: aws.String("oauth-client-secret")},
			OAuthHttpParameters: &types.ConnectionHttpParameters{HeaderParameters: []types.ConnectionHeaderParameter{
				{Key: aws.String("X-Extra"), Value: aws.String("oauth-header-secret"), IsValueSecret: true},
			}},
		}},
	})
	if ae := (smithy.APIError)(nil); !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
		t.Fatalf("CreateConnection with OAuth: %v, want ValidationException", err)
	}
	log, err := os.ReadFile(filepath.Join(srv.DataDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte(`"eventName":"CreateConnection"`)) {
		t.Fatalf("the refused CreateConnection is not in the audit log:\n%s", log)
	}
	for _, secret := range []string{"oauth-client-secret", "oauth-header-secret"} {
		if bytes.Contains(log, []byte(secret)) {
			t.Errorf("the audit log contains %q:\n%s", secret, log)
		}
	}
}
