package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/bulwarkd/bulwark/internal/edge"
	"github.com/bulwarkd/bulwark/internal/fle"
	"github.com/bulwarkd/bulwark/internal/fle/kmskeys"
	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// seedPayload is the seed's sample request body: a JSON array of people
// with the six sensitive fields, plus a long free-text note that the
// managed service's 190-byte-per-field RSA limit could never protect.
var seedPayload = `[{"id": 1, "fname": "Alejandro", "lname": "Rosalez", "email": "alejandro@example.com", "ssn": "123-45-6789", "dob": "1980-01-01", "phone": "+1-555-0100",
  "notes": "` + strings.Repeat("Prefers calls after 5pm; ", 24) + `"},
 {"id": 2, "fname": "Jane", "lname": "Doe", "email": "jane@example.com", "ssn": "987-65-4320", "dob": "1975-12-31", "phone": "+1-555-0199", "notes": "none"}]`

var sensitive = []string{"fname", "lname", "email", "ssn", "dob", "phone"}

func (d *demo) stepEdge(ctx context.Context) error {
	d.r.section("Field-level encryption at the edge (the seed's second post)",
		"the edge encrypts each sensitive field with a KMS public key before the origin sees it; only principals KMS allows can read them back")
	km := kms.NewFromConfig(d.e.rootConfig())
	mkKey := func(spec kmstypes.KeySpec, alias string) error {
		k, err := km.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt, Description: aws.String("field-level encryption")})
		if err != nil {
			return err
		}
		_, err = km.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: k.KeyMetadata.KeyId})
		return err
	}
	if err := mkKey(kmstypes.KeySpecRsa2048, "alias/pii"); err != nil {
		return fmt.Errorf("RSA key: %w", err)
	}
	if err := mkKey(kmstypes.KeySpec("HPKE_X25519"), "alias/notes"); err != nil {
		return fmt.Errorf("HPKE key: %w", err)
	}
	keys := kmskeys.KeyMap{"01": "alias/pii", "02": "alias/notes"}

	// A recording origin.
	var mu sync.Mutex
	var received []byte
	origin := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = b
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	})}
	oln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go origin.Serve(oln)
	defer origin.Close()

	client := kmskeys.New(d.e.rootConfig(), kmskeys.Options{})
	ks := client.KeySource(kmskeys.KeySourceOptions{Keys: keys})
	if err := ks.Load(ctx); err != nil {
		return fmt.Errorf("fetch public keys: %w", err)
	}
	rule := fle.Rule{Name: "people", Methods: []string{"POST"}, PathPrefix: "/people", ContentTypes: []string{"application/json"},
		KeyID: "01", Fields: append(fle.Fields(sensitive...), fle.Field{Selector: "notes", KeyID: "02", Format: token.FormatHPKE})}
	engine, err := fle.New(fle.Config{Rules: []fle.Rule{rule}, Keys: ks})
	if err != nil {
		return err
	}
	originURL, _ := url.Parse("http://" + oln.Addr().String())
	ep, err := edge.New(edge.Config{Engine: engine, Origin: originURL})
	if err != nil {
		return err
	}
	eln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	es := &http.Server{Handler: ep, ReadHeaderTimeout: 5 * time.Second}
	go es.Serve(eln)
	defer es.Close()
	d.edgeAddr = eln.Addr().String()

	resp, err := http.Post("http://"+d.edgeAddr+"/people", "application/json", strings.NewReader(seedPayload))
	if err != nil {
		return err
	}
	resp.Body.Close()
	mu.Lock()
	got := append([]byte(nil), received...)
	mu.Unlock()
	d.r.check(resp.StatusCode == http.StatusCreated, "POST /people through the edge → %d", resp.StatusCode)
	leaked := ""
	for _, v := range []string{"Alejandro", "Rosalez", "alejandro@example.com", "123-45-6789", "1980-01-01", "555-0100", "Prefers calls"} {
		if bytes.Contains(got, []byte(v)) {
			leaked = v
		}
	}
	d.r.check(leaked == "", "the origin received no plaintext of a protected field%s", map[bool]string{true: "", false: " (leaked: " + leaked + ")"}[leaked == ""])
	rsaTokens := regexp.MustCompile(`#01#[A-Za-z0-9+/=]+#10#`).FindAll(got, -1)
	d.r.check(len(rsaTokens) == 12, "%d seed-format tokens #01#…#10# (6 fields × 2 people, RSA-OAEP-SHA256)", len(rsaTokens))
	d.r.check(bytes.Contains(got, []byte(`"id": 1`)) && bytes.Contains(got, []byte(`"id": 2`)), "unprotected members reach the origin byte for byte")
	d.r.check(bytes.Count(got, []byte("#02:h1#")) == 2, "the %d-byte note went out as an HPKE token (no 190-byte limit)", len(strings.Repeat("Prefers calls after 5pm; ", 24)))
	if len(rsaTokens) > 0 {
		d.r.info("origin saw: ...%s...", truncate(string(rsaTokens[0]), 60))
	}

	// Unprotect: the seed's decryption function, with the caller's rights.
	u := fle.NewUnprotector(fle.UnprotectOptions{Decrypter: client.Decrypter(keys)})
	plain, _, err := u.Text(ctx, got)
	d.r.check(err == nil && bytes.Equal(plain, []byte(seedPayload)), "bulwark unprotect (KMS Decrypt and HPKEOpen) restores the original byte for byte")
	analystCfg, err := d.principal(ctx, "analyst", `{"Effect":"Allow","Action":"kms:GetPublicKey","Resource":"*"}`)
	if err != nil {
		return err
	}
	ua := fle.NewUnprotector(fle.UnprotectOptions{Decrypter: kmskeys.New(analystCfg, kmskeys.Options{}).Decrypter(keys)})
	out, _, err := ua.Text(ctx, got)
	denied := err != nil && strings.Contains(err.Error(), "AccessDeniedException")
	d.r.check(denied && out == nil, "a principal without kms:Decrypt gets nothing back (KMS: AccessDeniedException)")
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// printTryIt prints the commands a person can run while the demo stays up.
func (d *demo) printTryIt() {
	fmt.Fprintf(d.r.out, `
Try it by hand (Ctrl-C to stop):
  curl -s %s
  curl -s http://%s/stats | grep -E 'ssl.handshake|ssl.no_certificate'
  curl -s http://%s/certs
  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=us-east-1
  aws --endpoint-url %s acm-pca list-certificate-authorities
  aws --endpoint-url %s appmesh list-virtual-nodes --mesh-name %s
  aws --endpoint-url %s secretsmanager list-secrets
`, d.gatewayURL(), d.sidecar.p.AdminAddr(), d.sidecar.p.AdminAddr(), d.e.rootID, d.e.rootKey, d.e.endpoint, d.e.endpoint, meshName, d.e.endpoint)
}
