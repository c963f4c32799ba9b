package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The console's browser tests drive Debian's headless Chromium through the
// DevTools protocol against a real `bulwark server --dev`, with data made
// through the AWS SDK. Screenshots go to $BULWARK_CONSOLE_SCREENSHOTS
// (docs/console/ when refreshing the documentation), else a temp dir.

// chromiumPath finds the browser or skips the test with how to get it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if os.Getenv("BULWARK_SLOW_TESTS") != "1" {
		t.Skip("the console's browser tests take about a minute: set BULWARK_SLOW_TESTS=1 to run them")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("Chromium is not installed (apt-get install -y chromium): skipping the console's browser tests; CI installs it")
	return ""
}

// cspWatch records every Content-Security-Policy violation of the page,
// so a test can prove the console runs under its strict policy untouched.
const cspWatch = `window.__csp = []; document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`

type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot string
}

// newBrowser starts a fresh headless Chromium (its own profile) of the
// given window size. The flags keep it off the network: without the
// background-networking ones it hangs on a closed network.
func newBrowser(t *testing.T, base string, width, height int) *browser {
	t.Helper()
	exe := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(width, height),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("BULWARK_CONSOLE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	return &browser{t: t, ctx: ctx, base: base, shot: dir}
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\npage text:\n%s", what, err, b.text("body"))
	}
}

// text is the visible text of the first element sel matches.
func (b *browser) text(sel string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	return s
}

func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		b.t.Fatalf("evaluate %s: %s: %v", expr, raw, err)
	}
}

// waitFor polls a JavaScript predicate (the page updates itself; nothing
// here sleeps).
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(40*time.Second))); err != nil {
		b.t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, b.text("body"))
	}
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shot, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// view opens a view and waits until it has drawn sel.
func (b *browser) view(name, sel string) {
	b.t.Helper()
	b.do("open "+name, chromedp.Navigate(b.base+"/console/#/"+name), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// signIn signs in through the form, with the keyboard only: type in the
// fields and press Enter.
func (b *browser) signIn(keyID, secret string) {
	b.t.Helper()
	b.do("sign in",
		chromedp.Navigate(b.base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=accessKeyId]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=accessKeyId]`), keyID),
		chromedp.SendKeys(chromedp.CSS(`input[name=secretAccessKey]`), secret+"\r"),
		chromedp.WaitVisible(chromedp.CSS(`main[data-view=pki] #certs`)),
	)
}

// unlabelled lists the controls of the page that assistive technology
// could not name.
const unlabelled = `Array.from(document.querySelectorAll('input, select, textarea, button, a[href]'))
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
  .map((el) => el.outerHTML.slice(0, 120))`

func (b *browser) checkPage(view string) {
	b.t.Helper()
	var bad, csp []string
	b.eval(unlabelled, &bad)
	if len(bad) > 0 {
		b.t.Errorf("%s: controls without a label: %v", view, bad)
	}
	b.eval(`window.__csp || []`, &csp)
	if len(csp) > 0 {
		b.t.Errorf("%s: Content-Security-Policy violations: %v", view, csp)
	}
}

// markFocusables numbers the controls a keyboard user must be able to
// reach (visible, enabled, not taken out of the tab order) and starts
// recording which of them receive focus.
const markFocusables = `(() => {
  if (!window.__kbListen) {
    window.__kbListen = true;
    document.addEventListener('focusin', (e) => { if (e.target.dataset && e.target.dataset.kb) window.__kbSeen.add(e.target.dataset.kb); });
  }
  window.__kbSeen = new Set();
  const els = Array.from(document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]'))
    .filter((el) => el.tabIndex >= 0 && !el.disabled && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden');
  els.forEach((el, i) => { el.dataset.kb = String(i); });
  if (document.activeElement) document.activeElement.blur();
  return els.length;
})()`

// unreached lists the numbered controls, still on the page, that Tab
// never focused.
const unreached = `Array.from(document.querySelectorAll('[data-kb]'))
  .filter((el) => el.isConnected && !window.__kbSeen.has(el.dataset.kb) && !el.disabled && el.getClientRects().length > 0)
  .map((el) => el.outerHTML.slice(0, 120))`

// checkKeyboard presses Tab through the whole page and fails if a control
// cannot be reached with the keyboard.
func (b *browser) checkKeyboard(view string) {
	b.t.Helper()
	var n int
	b.eval(markFocusables, &n)
	tabs := make([]chromedp.Action[chromedp.Void], 0, n+3)
	for range n + 3 {
		tabs = append(tabs, chromedp.KeyEvent(kb.Tab))
	}
	b.do("tab through "+view, tabs...)
	var missed []string
	b.eval(unreached, &missed)
	b.eval(`document.activeElement && document.activeElement.blur(), true`, new(bool))
	if len(missed) > 0 {
		b.t.Errorf("%s: %d of %d controls not reachable with Tab: %v", view, len(missed), n, missed)
	}
}

// consoleFixture is a server with a CA hierarchy, certificates, a KMS key,
// a secret and a read-only user.
type consoleFixture struct {
	p                    *proc
	xdsAddr              string
	cfg                  aws.Config
	subCA                string
	certs                []string
	keyID                string
	secretARN            string
	viewerID, viewerPass string
}

func newConsoleFixture(t *testing.T) *consoleFixture {
	t.Helper()
	xdsAddr := freePort(t)
	p := startDev(t, t.TempDir(), "--xds-listen", xdsAddr)
	f := &consoleFixture{p: p, xdsAddr: xdsAddr, cfg: p.awsConfig()}
	ctx := ctxT(t)
	pa := acmpca.NewFromConfig(f.cfg)
	create := func(typ pcatypes.CertificateAuthorityType, cn string) *string {
		out, err := pa.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
			CertificateAuthorityType: typ,
			CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{
				KeyAlgorithm: pcatypes.KeyAlgorithmEcPrime256v1, SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa,
				Subject: &pcatypes.ASN1Subject{CommonName: aws.String(cn)},
			},
			RevocationConfiguration: &pcatypes.RevocationConfiguration{CrlConfiguration: &pcatypes.CrlConfiguration{Enabled: aws.Bool(true), ExpirationInDays: aws.Int32(7)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.CertificateAuthorityArn
	}
	csrOf := func(ca *string) []byte {
		out, err := pa.GetCertificateAuthorityCsr(ctx, &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: ca})
		if err != nil {
			t.Fatal(err)
		}
		return []byte(aws.ToString(out.Csr))
	}
	root := create(pcatypes.CertificateAuthorityTypeRoot, "Console Root CA")
	rootPEM := issueAndGet(t, pa, root, csrOf(root), "arn:aws:acm-pca:::template/RootCACertificate/V1", 3650)
	if _, err := pa.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{CertificateAuthorityArn: root, Certificate: []byte(rootPEM)}); err != nil {
		t.Fatal(err)
	}
	sub := create(pcatypes.CertificateAuthorityTypeSubordinate, "Console Issuing CA")
	subPEM := issueAndGet(t, pa, root, csrOf(sub), "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1", 1825)
	if _, err := pa.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{CertificateAuthorityArn: sub, Certificate: []byte(subPEM), CertificateChain: []byte(rootPEM)}); err != nil {
		t.Fatal(err)
	}
	f.subCA = aws.ToString(sub)
	ac := acm.NewFromConfig(f.cfg)
	for _, d := range []string{"colorteller.mesh.local", "gateway.mesh.local"} {
		out, err := ac.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String(d), CertificateAuthorityArn: sub, KeyAlgorithm: acmtypes.KeyAlgorithmEcPrime256v1})
		if err != nil {
			t.Fatal(err)
		}
		f.certs = append(f.certs, aws.ToString(out.CertificateArn))
	}
	kc := kms.NewFromConfig(f.cfg)
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("console test key")})
	if err != nil {
		t.Fatal(err)
	}
	f.keyID = aws.ToString(key.KeyMetadata.KeyId)
	if _, err := kc.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/console"), TargetKeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(f.cfg)
	sec, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("console/db"), SecretString: aws.String("first-value")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: sec.ARN, SecretString: aws.String("s3cr3t-current-value")}); err != nil {
		t.Fatal(err)
	}
	f.secretARN = aws.ToString(sec.ARN)

	// A user who may look at the PKI but change nothing.
	ic := iam.NewFromConfig(f.cfg)
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("viewer")}); err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["acm:List*","acm:Describe*","acm:GetAccountConfiguration","acm-pca:List*","acm-pca:Describe*","acm-pca:Get*","appmesh:List*","appmesh:Describe*"],"Resource":"*"}]}`
	if _, err := ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("viewer"), PolicyName: aws.String("read-pki"), PolicyDocument: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	ak, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("viewer")})
	if err != nil {
		t.Fatal(err)
	}
	f.viewerID, f.viewerPass = aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey)
	return f
}

func (f *consoleFixture) serial(t *testing.T, arn string) string {
	t.Helper()
	out, err := acm.NewFromConfig(f.cfg).DescribeCertificate(ctxT(t), &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Certificate.Serial)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestConsoleInBrowser walks the console as an administrator at desktop
// width: sign-in with the keyboard, every view with real data, one action
// per view, and a renewal made elsewhere appearing on the open timeline.
func TestConsoleInBrowser(t *testing.T) {
	f := newConsoleFixture(t)
	b := newBrowser(t, f.p.endpoint, 1280, 900)

	b.do("first-run page", chromedp.Navigate(f.p.endpoint+"/console/"), chromedp.WaitVisible(chromedp.CSS(`#first-run-h`)))
	if got := b.text("main"); !strings.Contains(got, "export AWS_ENDPOINT_URL="+f.p.endpoint) || !strings.Contains(got, "aws sts get-caller-identity") {
		t.Errorf("first-run page lacks the endpoint export or the commands:\n%s", got)
	}
	b.checkPage("start")
	b.checkKeyboard("start")
	b.screenshot("start")

	b.signIn(devKeyID, devSecret)
	if who := b.text("#who"); !strings.Contains(who, ":root") && !strings.Contains(who, "arn:aws:iam::") {
		t.Errorf("signed-in identity %q, want the root ARN", who)
	}
	var stored string
	b.eval(`document.cookie + '|' + JSON.stringify(Object.keys(localStorage))`, &stored)
	if stored != "|[]" {
		t.Errorf("credentials must stay out of cookies and localStorage, found %q", stored)
	}

	// PKI: the hierarchy as a tree, the certificates on the timeline.
	b.waitFor("the subordinate CA nested under the root", `document.querySelectorAll('#ca-tree > li.ca > ul > li.ca').length === 1`)
	if tree := b.text("#ca-tree"); !strings.Contains(tree, "Console Root CA") || !strings.Contains(tree, "Console Issuing CA") || !strings.Contains(tree, "EC_prime256v1") {
		t.Errorf("CA tree:\n%s", tree)
	}
	b.waitFor("both certificates on the timeline", `document.querySelectorAll('#timeline g.cert').length === 2 && document.querySelectorAll('#timeline rect.window').length === 2`)
	// Action: issue a certificate from the form.
	b.do("issue a certificate",
		chromedp.SetValue(chromedp.CSS(`#issue-ca`), f.subCA),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('issue-ca').dispatchEvent(new Event('change'))`),
		chromedp.SendKeys(chromedp.CSS(`#issue-domain`), "issued-in-browser.mesh.local"),
		chromedp.Click(chromedp.CSS(`#issue`)),
	)
	b.waitFor("the issued certificate on the timeline", `Array.from(document.querySelectorAll('#timeline g.cert text')).some((t) => t.textContent === 'issued-in-browser.mesh.local')`)
	// A renewal made elsewhere (here the SDK, as the renewer would) shows
	// up on the open page, without a reload: the bar gets the new serial
	// and a renewal mark.
	var marker string
	b.eval(`window.__noReload = 'still-here'`, &marker)
	before := f.serial(t, f.certs[0])
	if _, err := acm.NewFromConfig(f.cfg).RenewCertificate(ctxT(t), &acm.RenewCertificateInput{CertificateArn: aws.String(f.certs[0])}); err != nil {
		t.Fatal(err)
	}
	after := f.serial(t, f.certs[0])
	if after == before {
		t.Fatalf("renewal kept serial %s", before)
	}
	b.waitFor("the renewed certificate's new serial on the timeline",
		fmt.Sprintf(`!!document.querySelector('#timeline g.cert[data-arn=%s][data-serial=%s] circle.renewed')`, jsString(f.certs[0]), jsString(after)))
	b.eval(`window.__noReload || ''`, &marker)
	if marker != "still-here" {
		t.Error("the page reloaded to show the renewal")
	}
	b.checkPage("pki")
	b.checkKeyboard("pki")
	b.screenshot("pki")

	// Export with the passphrase flow: a mismatch is refused in the page,
	// then the encrypted key comes back.
	key := f.certs[1][strings.LastIndex(f.certs[1], "/")+1:]
	b.do("open export", chromedp.Click(chromedp.CSS(`#export-`+key)), chromedp.WaitVisible(chromedp.CSS(`#cert-action form`)))
	b.do("mismatched passphrases",
		chromedp.SendKeys(chromedp.CSS(`#cert-action input[type=password]`), "correct horse"),
		chromedp.SendKeys(chromedp.CSS(`#cert-action .field:nth-of-type(2) input`), "wrong horse\r"),
		chromedp.WaitVisible(chromedp.CSS(`#cert-action p.error`)))
	b.do("matching passphrases",
		chromedp.SetValue(chromedp.CSS(`#cert-action .field:nth-of-type(2) input`), "correct horse"),
		chromedp.Click(chromedp.CSS(`#cert-action button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#exported`)))
	var exported string
	b.eval(`Array.from(document.querySelectorAll('#exported textarea')).map((t) => t.value).join('\n')`, &exported)
	if !strings.Contains(exported, "BEGIN ENCRYPTED PRIVATE KEY") || !strings.Contains(exported, "BEGIN CERTIFICATE") {
		t.Errorf("export shows:\n%s", exported)
	}
	b.screenshot("pki-export")

	// KMS: the key with its alias; a broken policy is refused before any
	// call, a good one is saved.
	b.view("kms", "#key-table")
	if got := b.text("#key-table"); !strings.Contains(got, "alias/console") || !strings.Contains(got, "Enabled") {
		t.Errorf("key table:\n%s", got)
	}
	b.do("open the key policy", chromedp.Click(chromedp.CSS(`button.policy-btn[data-key="`+f.keyID+`"]`)), chromedp.WaitVisible(chromedp.CSS(`#policy`)))
	b.do("a policy that is not JSON",
		chromedp.SetValue(chromedp.CSS(`#policy`), `{"Version": "2012-10-17", "Statement": [}`),
		chromedp.Click(chromedp.CSS(`#save-policy`)),
		chromedp.WaitVisible(chromedp.CSS(`#policy-msg .error`)))
	if msg := b.text("#policy-msg"); !strings.Contains(msg, "Not valid JSON") {
		t.Errorf("invalid policy message %q", msg)
	}
	good := `{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"},{"Sid":"FromConsole","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:Decrypt","Resource":"*"}]}`
	b.do("a good policy", chromedp.SetValue(chromedp.CSS(`#policy`), good), chromedp.Click(chromedp.CSS(`#save-policy`)), chromedp.WaitVisible(chromedp.CSS(`#policy-saved`)))
	pol, err := kms.NewFromConfig(f.cfg).GetKeyPolicy(ctxT(t), &kms.GetKeyPolicyInput{KeyId: aws.String(f.keyID), PolicyName: aws.String("default")})
	if err != nil || !strings.Contains(aws.ToString(pol.Policy), "FromConsole") {
		t.Errorf("key policy after saving: %v %v", aws.ToString(pol.Policy), err)
	}
	b.checkPage("kms")
	b.checkKeyboard("kms")
	b.screenshot("kms")

	// Secrets: versions and stages; the value only on request.
	b.view("secrets", "#secret-table")
	b.do("open versions", chromedp.Click(chromedp.CSS(`button.versions-btn`)), chromedp.WaitVisible(chromedp.CSS(`#version-table`)))
	if got := b.text("#version-table"); !strings.Contains(got, "AWSCURRENT") || !strings.Contains(got, "AWSPREVIOUS") {
		t.Errorf("version table:\n%s", got)
	}
	if strings.Contains(b.text("main"), "s3cr3t-current-value") {
		t.Fatal("the secret value is shown before anyone asked for it")
	}
	b.do("show the current value", chromedp.Click(chromedp.CSS(`#version-table tbody tr:first-child button.show-value`)), chromedp.WaitVisible(chromedp.CSS(`pre.secret-value`)))
	var values string
	b.eval(`Array.from(document.querySelectorAll('pre.secret-value')).map((p) => p.textContent).join(',')`, &values)
	if values != "s3cr3t-current-value" && values != "first-value" {
		t.Errorf("shown value %q", values)
	}
	b.checkPage("secrets")
	b.checkKeyboard("secrets")
	b.screenshot("secrets")

	// Audit: the chain verifies; the value just shown is an event of
	// its own (GetSecretValue by root), found by searching. Below, an
	// event rule with one accepting and one unreachable target shows each
	// target's last delivery and the queued retry.
	seedRules(t, f.cfg)
	b.view("audit", "#audit-table")
	b.do("chain status", chromedp.WaitVisible(chromedp.CSS(`#chain-ok`)))
	b.do("search",
		chromedp.SetValue(chromedp.CSS(`#audit-attr`), "EventName"),
		chromedp.SendKeys(chromedp.CSS(`#audit-text`), "GetSecretValue\r"))
	b.waitFor("the GetSecretValue event", `(() => { const rows = document.querySelectorAll('#audit-table tbody tr'); return rows.length >= 1 && Array.from(rows).every((r) => r.textContent.includes('secretsmanager:GetSecretValue')); })()`)
	if strings.Contains(b.text("main"), "s3cr3t-current-value") {
		t.Error("the audit view shows a secret value")
	}
	// Deliveries are made by the server's loop as the event arrives: ask
	// again (the refresh button) until both attempts are reported.
	b.waitFor("the rule's deliveries", `(() => {
	  const t = document.getElementById('rules-table');
	  const ok = t && /accepting[\s\S]*DELIVERED/.test(t.textContent) && /down[\s\S]*RETRYING[\s\S]*1 queued/.test(t.textContent);
	  if (!ok) document.getElementById('rules-refresh').click();
	  return ok;
	})()`)
	if got := b.text("#rules-table"); !strings.Contains(got, "console-orders") || !strings.Contains(got, `{"source":["console.test"]}`) || !strings.Contains(got, "/hook") {
		t.Errorf("rules table:\n%s", got)
	}
	b.checkPage("audit")
	b.checkKeyboard("audit")
	b.screenshot("audit")

	// Mesh: the graph, with the TLS of each edge into a virtual node.
	seedMesh(t, f.cfg)
	b.view("mesh", "table.mesh-edges")
	b.waitFor("the router-to-node edge marked mutual", `!!document.querySelector('path.edge.mutual[data-from="router:teller-router"][data-to="node:teller"]')`)
	if got := b.text("table.mesh-edges"); !strings.Contains(got, "node front") || !strings.Contains(got, "service teller.mesh.local") || !strings.Contains(got, "mutual") {
		t.Errorf("mesh edges:\n%s", got)
	}
	// A data plane connects over xDS while the page is open: within a
	// refresh it is listed with its acknowledged listener version and the
	// configuration it refused, and its node is marked on the graph.
	if got := b.text("table.mesh-proxies"); !strings.Contains(got, "None yet") {
		t.Errorf("proxies before any connected:\n%s", got)
	}
	listeners := connectProxy(t, f.p, f.xdsAddr, "front")
	// Its reported TLS counters show in the same row.
	handshakes := fmt.Sprintf("%d handshakes", consoleHandshakes)
	b.waitFor("the connected data plane", `!!document.querySelector('g.node.connected.refused[data-id="node:front"]') && document.querySelector('table.mesh-proxies').textContent.includes(`+jsString(consoleNACK)+`) && document.querySelector('table.mesh-proxies').textContent.includes(`+jsString(handshakes)+`)`)
	if got := b.text("table.mesh-proxies"); !strings.Contains(got, "node front") || !strings.Contains(got, "Listener "+listeners) || !strings.Contains(got, "Cluster") {
		t.Errorf("connected proxies:\n%s", got)
	}
	b.checkPage("mesh")
	b.checkKeyboard("mesh")
	b.screenshot("mesh")
}

// TestConsoleDeniedAction: a user without the permission sees the API's
// AccessDenied and the action they lack, and nothing changes.
func TestConsoleDeniedAction(t *testing.T) {
	f := newConsoleFixture(t)
	b := newBrowser(t, f.p.endpoint, 1280, 900)
	b.signIn(f.viewerID, f.viewerPass)
	before := f.serial(t, f.certs[0])
	key := f.certs[0][strings.LastIndex(f.certs[0], "/")+1:]
	b.do("renew as viewer", chromedp.WaitVisible(chromedp.CSS(`#renew-`+key)), chromedp.Click(chromedp.CSS(`#renew-`+key)),
		chromedp.WaitVisible(chromedp.CSS(`#cert-action .error`)))
	msg := b.text("#cert-action .error")
	if !strings.Contains(msg, "AccessDeniedException") || !strings.Contains(msg, "Missing permission: acm:RenewCertificate") {
		t.Errorf("denied renewal shows %q, want AccessDeniedException and the missing acm:RenewCertificate", msg)
	}
	if after := f.serial(t, f.certs[0]); after != before {
		t.Error("a denied renewal renewed the certificate")
	}
	b.screenshot("denied")
	// The KMS view is not readable at all for this user: the list call's
	// refusal is shown, with its permission.
	b.view("kms", "#keys .error")
	if msg := b.text("#keys .error"); !strings.Contains(msg, "Missing permission: kms:") {
		t.Errorf("KMS view as viewer shows %q", msg)
	}
	// The mesh's specs are readable, its live data planes are a grant of
	// their own: the graph is drawn, the proxies' refusal is shown.
	seedMesh(t, f.cfg)
	b.view("mesh", "table.mesh-edges")
	b.waitFor("the refusal of ListConnectedProxies", `!!document.querySelector('.proxies .error')`)
	if msg := b.text(".proxies .error"); !strings.Contains(msg, "AccessDeniedException") || !strings.Contains(msg, "Missing permission: bulwark:ListConnectedProxies") {
		t.Errorf("connected proxies as viewer show %q", msg)
	}
}

// TestConsolePhoneWidth: the console is usable at 390 px: nothing wider
// than the screen but the tables' own scrollers, every control labelled
// and reachable with Tab.
func TestConsolePhoneWidth(t *testing.T) {
	f := newConsoleFixture(t)
	b := newBrowser(t, f.p.endpoint, 390, 844)
	b.signIn(devKeyID, devSecret)
	b.waitFor("the timeline", `document.querySelectorAll('#timeline g.cert').length === 2`)
	var overflow int
	b.eval(`document.documentElement.scrollWidth - window.innerWidth`, &overflow)
	if overflow > 0 {
		t.Errorf("the PKI view is %d px wider than a phone screen", overflow)
	}
	b.screenshot("pki-phone")
	seedMesh(t, f.cfg)
	seedRules(t, f.cfg)
	connectProxy(t, f.p, f.xdsAddr, "front")
	for _, v := range []struct{ name, sel string }{{"secrets", "#secret-table"}, {"audit", "#rules-table"}, {"mesh", "table.mesh-proxies"}} {
		b.view(v.name, v.sel)
		b.eval(`document.documentElement.scrollWidth - window.innerWidth`, &overflow)
		if overflow > 0 {
			t.Errorf("the %s view is %d px wider than a phone screen", v.name, overflow)
		}
		b.checkPage(v.name)
		b.checkKeyboard(v.name)
	}
	b.screenshot("mesh-phone")
}

// seedMesh makes a small mesh: a gateway routing to a service provided by
// a router that sends traffic to a node with mutual TLS, whose client
// node speaks no TLS of its own listener.
func seedMesh(t *testing.T, cfg aws.Config) {
	t.Helper()
	ctx := ctxT(t)
	am := appmesh.NewFromConfig(cfg)
	mesh := aws.String("console")
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(am.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: mesh}))
	listener := func(tls *amtypes.ListenerTls) []amtypes.Listener {
		return []amtypes.Listener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(8080), Protocol: amtypes.PortProtocolHttp}, Tls: tls}}
	}
	file := &amtypes.ListenerTlsCertificateMemberFile{Value: amtypes.ListenerTlsFileCertificate{CertificateChain: aws.String("/certs/chain.pem"), PrivateKey: aws.String("/certs/key.pem")}}
	must(am.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("teller"), Spec: &amtypes.VirtualNodeSpec{
		Listeners: listener(&amtypes.ListenerTls{Mode: amtypes.ListenerTlsModeStrict, Certificate: file,
			Validation: &amtypes.ListenerTlsValidationContext{Trust: &amtypes.ListenerTlsValidationContextTrustMemberFile{Value: amtypes.TlsValidationContextFileTrust{CertificateChain: aws.String("/certs/ca.pem")}}}}),
		ServiceDiscovery: &amtypes.ServiceDiscoveryMemberDns{Value: amtypes.DnsServiceDiscovery{Hostname: aws.String("teller.local")}}}}))
	must(am.CreateVirtualRouter(ctx, &appmesh.CreateVirtualRouterInput{MeshName: mesh, VirtualRouterName: aws.String("teller-router"), Spec: &amtypes.VirtualRouterSpec{
		Listeners: []amtypes.VirtualRouterListener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(8080), Protocol: amtypes.PortProtocolHttp}}}}}))
	must(am.CreateRoute(ctx, &appmesh.CreateRouteInput{MeshName: mesh, VirtualRouterName: aws.String("teller-router"), RouteName: aws.String("all"), Spec: &amtypes.RouteSpec{
		HttpRoute: &amtypes.HttpRoute{Match: &amtypes.HttpRouteMatch{Prefix: aws.String("/")}, Action: &amtypes.HttpRouteAction{WeightedTargets: []amtypes.WeightedTarget{{VirtualNode: aws.String("teller"), Weight: 1}}}}}}))
	must(am.CreateVirtualService(ctx, &appmesh.CreateVirtualServiceInput{MeshName: mesh, VirtualServiceName: aws.String("teller.mesh.local"), Spec: &amtypes.VirtualServiceSpec{
		Provider: &amtypes.VirtualServiceProviderMemberVirtualRouter{Value: amtypes.VirtualRouterServiceProvider{VirtualRouterName: aws.String("teller-router")}}}}))
	must(am.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("front"), Spec: &amtypes.VirtualNodeSpec{
		Listeners:        listener(nil),
		ServiceDiscovery: &amtypes.ServiceDiscoveryMemberDns{Value: amtypes.DnsServiceDiscovery{Hostname: aws.String("front.local")}},
		Backends:         []amtypes.Backend{&amtypes.BackendMemberVirtualService{Value: amtypes.VirtualServiceBackend{VirtualServiceName: aws.String("teller.mesh.local")}}}}}))
}
