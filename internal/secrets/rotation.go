package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/store"
)

// The four steps of the rotation protocol, in order.
var rotationSteps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

// RotationEvent is the JSON body POSTed to a rotation endpoint for each
// step: the same members AWS sends a rotation Lambda function.
type RotationEvent struct {
	Step               string `json:"Step"`
	SecretID           string `json:"SecretId"`
	ClientRequestToken string `json:"ClientRequestToken"`
	RotationToken      string `json:"RotationToken"`
}

// retryAfterFailure postpones a failed scheduled rotation so a broken
// endpoint is not called every loop tick.
const retryAfterFailure = time.Hour

var rateRE = regexp.MustCompile(`^rate\((\d+) (hours?|days?)\)$`)

// interval is how long after a rotation the next one is due.
func (r *RotationRules) interval() (time.Duration, error) {
	if r == nil {
		return 0, nil
	}
	if r.ScheduleExpression != "" {
		m := rateRE.FindStringSubmatch(r.ScheduleExpression)
		if m == nil {
			return 0, fmt.Errorf("%w: ScheduleExpression must be rate(N days) or rate(N hours); cron() schedules are not supported.", ErrInvalidParameter)
		}
		n, _ := strconv.Atoi(m[1])
		unit := 24 * time.Hour
		if m[2][0] == 'h' {
			unit = time.Hour
			if n < 4 || n > 23 {
				return 0, fmt.Errorf("%w: A rate in hours must be between 4 and 23.", ErrInvalidParameter)
			}
		}
		if n < 1 || n > 1000 {
			return 0, fmt.Errorf("%w: A rate in days must be between 1 and 1000.", ErrInvalidParameter)
		}
		return time.Duration(n) * unit, nil
	}
	if r.AutomaticallyAfterDays < 1 || r.AutomaticallyAfterDays > 1000 {
		return 0, fmt.Errorf("%w: AutomaticallyAfterDays must be between 1 and 1000.", ErrInvalidParameter)
	}
	return time.Duration(r.AutomaticallyAfterDays) * 24 * time.Hour, nil
}

// checkEndpoint vets a rotation endpoint when it is configured. A name
// that does not resolve yet is accepted (the endpoint may come up later);
// callStep checks again at each call.
func checkEndpoint(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: RotationLambdaARN must be the http(s) URL of a rotation endpoint; Lambda functions are not available here.", ErrInvalidParameter)
	}
	if err := checkHost(ctx, u.Hostname()); errors.Is(err, errLinkLocal) {
		return fmt.Errorf("%w: RotationLambdaARN %s: %s", ErrInvalidParameter, u.Host, err.Error())
	}
	return nil
}

// errLinkLocal refuses rotation endpoints on link-local addresses, where
// clouds serve instance metadata and credentials (169.254.169.254): a
// caller allowed to configure rotation must not make the server call them.
// Loopback and private addresses stay allowed, as internal rotation
// endpoints are the normal case.
var errLinkLocal = errors.New("rotation endpoints may not be link-local addresses (169.254.0.0/16, fe80::/10), where cloud instance metadata is served")

// imdsV6 is the AWS instance metadata service's IPv6 address, which is not
// link-local.
var imdsV6 = net.ParseIP("fd00:ec2::254")

func refusedIP(ip net.IP) bool {
	return ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.Equal(imdsV6)
}

// checkHost refuses host if it is, or resolves to, a refused address.
func checkHost(ctx context.Context, host string) error {
	if ip := net.ParseIP(host); ip != nil {
		if refusedIP(ip) {
			return errLinkLocal
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if refusedIP(a.IP) {
			return errLinkLocal
		}
	}
	return nil
}

// refuseLinkLocalDial is a net.Dialer Control function: it checks the
// address actually dialled, so a name that resolved to an allowed address
// for checkHost cannot switch to a refused one for the connection.
func refuseLinkLocalDial(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip != nil && refusedIP(ip) {
		return errLinkLocal
	}
	return nil
}

// newRotationClient is the default HTTPClient: it refuses link-local
// addresses at connection time and does not follow redirects.
func newRotationClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: refuseLinkLocalDial}).DialContext
	return &http.Client{Timeout: 30 * time.Second, Transport: tr, CheckRedirect: refuseRedirect}
}

// refuseRedirect stops at the first redirect, which then fails the step
// like any non-2xx answer: following it would let an endpoint that passed
// checkHost send the server anywhere.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// RotateInput is RotateSecret's input.
type RotateInput struct {
	SecretID, Token, Endpoint string
	Rules                     *RotationRules
	RotateImmediately         *bool // nil = true
}

// RotateSecret configures rotation and, unless RotateImmediately is false,
// runs the four steps now (synchronously, so the caller learns the
// outcome). It returns the secret and the new version's id.
func (s *Service) RotateSecret(ctx context.Context, c *api.Call, in RotateInput) (*Secret, string, error) {
	if in.Endpoint != "" {
		if err := checkEndpoint(ctx, in.Endpoint); err != nil {
			return nil, "", err
		}
	}
	every, err := in.Rules.interval()
	if err != nil {
		return nil, "", err
	}
	m, err := s.load(ctx, s.cfg.Store, in.SecretID)
	if err != nil {
		return nil, "", err
	}
	if err := s.authorize(ctx, c, "RotateSecret", m, nil); err != nil {
		return nil, "", err
	}
	if m.deleted() {
		return nil, "", markedForDeletion()
	}
	if in.Endpoint == "" && m.RotationURL == "" {
		return nil, "", fmt.Errorf("%w: No rotation endpoint is associated with this secret; set RotationLambdaARN to its http(s) URL.", ErrInvalidRequest)
	}
	token := in.Token
	if token != "" {
		if token, err = s.tokenOrNew(token); err != nil {
			return nil, "", err
		}
	}
	now := s.now()
	m, err = s.update(ctx, m.ARN, func(_ store.Tx, m *Secret) error {
		if in.Endpoint != "" {
			m.RotationURL = in.Endpoint
		}
		if in.Rules != nil {
			m.Rules = in.Rules
		}
		m.Rotation = true
		if d, _ := m.Rules.interval(); d > 0 && every == 0 {
			every = d
		}
		if every > 0 {
			m.NextRotation = now.Add(every)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if in.RotateImmediately != nil && !*in.RotateImmediately {
		return m, "", nil
	}
	vid, err := s.rotate(ctx, m.ARN, token)
	if err != nil {
		return nil, "", err
	}
	m, err = s.load(ctx, s.cfg.Store, m.ARN)
	return m, vid, err
}

// CancelRotateSecret turns rotation off. A rotation in progress keeps its
// AWSPENDING version, whose id is returned, as in AWS.
func (s *Service) CancelRotateSecret(ctx context.Context, c *api.Call, id string) (*Secret, string, error) {
	m, err := s.load(ctx, s.cfg.Store, id)
	if err != nil {
		return nil, "", err
	}
	if err := s.authorize(ctx, c, "CancelRotateSecret", m, nil); err != nil {
		return nil, "", err
	}
	m, err = s.update(ctx, m.ARN, func(_ store.Tx, m *Secret) error {
		if m.deleted() {
			return markedForDeletion()
		}
		m.Rotation = false
		m.NextRotation = time.Time{}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	pending := m.versionWith(stagePending)
	if pending == m.versionWith(stageCurrent) {
		pending = ""
	}
	return m, pending, nil
}

// rotate runs the four steps against the secret's endpoint with version
// id token (a new one when ""; the pending version of an unfinished
// rotation is resumed). The endpoint calls back into the API with its own
// credentials to create the AWSPENDING version and move AWSCURRENT; this
// function checks each outcome, then removes AWSPENDING and schedules the
// next rotation.
func (s *Service) rotate(ctx context.Context, arn, token string) (string, error) {
	if !s.beginRotation(arn) {
		return "", fmt.Errorf("%w: A previous rotation isn't complete. That rotation will be reattempted.", ErrInvalidRequest)
	}
	defer s.endRotation(arn)
	m, err := s.load(ctx, s.cfg.Store, arn)
	if err != nil {
		return "", err
	}
	if p := m.versionWith(stagePending); token == "" && p != "" && p != m.versionWith(stageCurrent) {
		token = p
	}
	if token == "" {
		if token, err = s.newToken(); err != nil {
			return "", err
		}
	}
	for _, step := range rotationSteps {
		if err := s.callStep(ctx, m.RotationURL, RotationEvent{Step: step, SecretID: m.ARN, ClientRequestToken: token, RotationToken: token}); err != nil {
			s.postpone(ctx, arn)
			return "", fmt.Errorf("%w: Rotation of %s failed at step %s: %s", ErrInvalidRequest, m.Name, step, err.Error())
		}
		cur, err := s.load(ctx, s.cfg.Store, arn)
		if err != nil {
			return "", err
		}
		var bad string
		switch v := cur.Versions[token]; {
		case step == "createSecret" && (v == nil || !hasStage(v.Stages, stagePending) && !hasStage(v.Stages, stageCurrent)):
			bad = "the endpoint did not create version " + token + " with AWSPENDING"
		case step == "finishSecret" && (v == nil || !hasStage(v.Stages, stageCurrent)):
			bad = "the endpoint did not move AWSCURRENT to version " + token
		}
		if bad != "" {
			s.postpone(ctx, arn)
			return "", fmt.Errorf("%w: Rotation of %s failed at step %s: %s", ErrInvalidRequest, m.Name, step, bad)
		}
	}
	now := s.now()
	_, err = s.update(ctx, arn, func(_ store.Tx, m *Secret) error {
		if v := m.Versions[token]; v != nil {
			v.Stages = removeStage(v.Stages, stagePending)
		}
		m.LastRotated = now
		if d, _ := m.Rules.interval(); d > 0 && m.Rotation {
			m.NextRotation = now.Add(d)
		}
		return nil
	})
	return token, err
}

func (s *Service) postpone(ctx context.Context, arn string) {
	_, err := s.update(ctx, arn, func(_ store.Tx, m *Secret) error {
		if m.Rotation && !m.NextRotation.IsZero() {
			m.NextRotation = s.now().Add(retryAfterFailure)
		}
		return nil
	})
	if err != nil {
		s.log.Warn("secretsmanager: postpone rotation", "secret", arn, "err", err)
	}
}

func (s *Service) beginRotation(arn string) bool {
	s.rotMu.Lock()
	defer s.rotMu.Unlock()
	if s.rotating == nil {
		s.rotating = map[string]bool{}
	}
	if s.rotating[arn] {
		return false
	}
	s.rotating[arn] = true
	return true
}

func (s *Service) endRotation(arn string) {
	s.rotMu.Lock()
	delete(s.rotating, arn)
	s.rotMu.Unlock()
}

// callStep POSTs one step; any 2xx answer is success. What the endpoint
// (or whatever answers at its address) says is logged, never returned:
// the error reaches the caller of RotateSecret, who must not be able to
// use the server to read internal URLs.
func (s *Service) callStep(ctx context.Context, endpoint string, ev RotationEvent) error {
	body, _ := json.Marshal(ev)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if err := checkHost(ctx, req.URL.Hostname()); err != nil {
		if errors.Is(err, errLinkLocal) {
			return err
		}
		s.log.Debug("secretsmanager: rotation endpoint does not resolve", "secret", ev.SecretID, "step", ev.Step, "err", err)
		return errors.New("the endpoint's host name does not resolve")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Bulwark-Rotation-Step", ev.Step)
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		if errors.Is(err, errLinkLocal) {
			return errLinkLocal
		}
		// Transport errors can quote what the far side sent ("malformed
		// HTTP response ..."), so they stay in the log.
		s.log.Debug("secretsmanager: rotation endpoint unreachable", "secret", ev.SecretID, "step", ev.Step, "err", err)
		return errors.New("endpoint unreachable or not speaking HTTP (details in the server log at debug level)")
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		s.log.Debug("secretsmanager: rotation endpoint refused a step", "secret", ev.SecretID, "step", ev.Step, "status", resp.StatusCode, "body", string(bytes.TrimSpace(msg)))
		if resp.StatusCode/100 == 3 {
			return fmt.Errorf("endpoint answered HTTP %d; redirects are not followed", resp.StatusCode)
		}
		return fmt.Errorf("endpoint answered HTTP %d (its answer is in the server log at debug level)", resp.StatusCode)
	}
	return nil
}

// RotateDue runs every rotation whose NextRotationDate has come (by the
// injected clock) and returns how many succeeded. The background loop
// calls it; tests call it after moving the clock.
func (s *Service) RotateDue(ctx context.Context) (int, error) {
	recs, err := s.cfg.Store.List(ctx, kindSecret, store.ListOptions{})
	if err != nil {
		return 0, err
	}
	now := s.now()
	n := 0
	var first error
	for _, r := range recs {
		m, err := decodeSecret(r)
		if err != nil || !m.Rotation || m.deleted() || m.NextRotation.IsZero() || now.Before(m.NextRotation) || m.RotationURL == "" {
			continue
		}
		if _, err := s.rotate(ctx, m.ARN, ""); err != nil {
			s.log.Warn("secretsmanager: rotation failed", "secret", m.ARN, "err", err)
			if first == nil {
				first = err
			}
			continue
		}
		n++
	}
	return n, first
}
