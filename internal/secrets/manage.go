package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/bulwarkd/bulwark/internal/tagging"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/store"
)

// DescribeSecret returns a secret's metadata, also while it is scheduled
// for deletion.
func (s *Service) DescribeSecret(ctx context.Context, c *api.Call, id string) (*Secret, error) {
	m, err := s.load(ctx, s.cfg.Store, id)
	if err != nil {
		return nil, err
	}
	return m, s.authorize(ctx, c, "DescribeSecret", m, nil)
}

// DeleteSecret schedules deletion after a recovery window of 7–30 days
// (default 30), or removes the secret at once when force is set. It
// returns the secret and when it will be (or was) removed.
func (s *Service) DeleteSecret(ctx context.Context, c *api.Call, id string, windowDays *int64, force bool) (*Secret, time.Time, error) {
	if force && windowDays != nil {
		return nil, time.Time{}, fmt.Errorf("%w: You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.", ErrInvalidParameter)
	}
	days := int64(30)
	if windowDays != nil {
		days = *windowDays
		if days < 7 || days > 30 {
			return nil, time.Time{}, fmt.Errorf("%w: The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).", ErrInvalidParameter)
		}
	}
	m, err := s.load(ctx, s.cfg.Store, id)
	if err != nil {
		return nil, time.Time{}, err
	}
	if err := s.authorize(ctx, c, "DeleteSecret", m, map[string][]string{"secretsmanager:recoverywindowindays": {itoa(days)}, "secretsmanager:forcedeletewithoutrecovery": {boolStr(force)}}); err != nil {
		return nil, time.Time{}, err
	}
	now := s.now()
	if force {
		err := s.tx(ctx, func(tx store.Tx) error {
			cur, err := s.load(ctx, tx, m.ARN)
			if err != nil {
				return err
			}
			return purgeRecords(ctx, tx, cur)
		})
		for vid := range m.Versions {
			s.versions.Drop(versionKey(m.ARN, vid))
		}
		return m, now, err
	}
	out, err := s.update(ctx, m.ARN, func(_ store.Tx, m *Secret) error {
		if m.deleted() {
			return fmt.Errorf("%w: You can't delete secret %s that is already scheduled for deletion.", ErrInvalidRequest, m.Name)
		}
		m.Deleted = now
		m.PurgeAt = now.Add(time.Duration(days) * 24 * time.Hour)
		return nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	s.wake()
	return out, out.PurgeAt, nil
}

// RestoreSecret cancels a scheduled deletion.
func (s *Service) RestoreSecret(ctx context.Context, c *api.Call, id string) (*Secret, error) {
	m, err := s.load(ctx, s.cfg.Store, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, "RestoreSecret", m, nil); err != nil {
		return nil, err
	}
	return s.update(ctx, m.ARN, func(_ store.Tx, m *Secret) error {
		m.Deleted, m.PurgeAt = time.Time{}, time.Time{}
		return nil
	})
}

// TagResource adds or replaces tags.
func (s *Service) TagResource(ctx context.Context, c *api.Call, id string, tags []Tag) error {
	if err := checkTags(tags); err != nil {
		return err
	}
	m, err := s.load(ctx, s.cfg.Store, id)
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, c, "TagResource", m, nil); err != nil {
		return err
	}
	_, err = s.update(ctx, m.ARN, func(_ store.Tx, m *Secret) error {
		if m.deleted() {
			return markedForDeletion()
		}
		m.Tags = tagging.Merge(m.Tags, tags, kvTag)
		return checkTags(m.Tags)
	})
	return err
}

// UntagResource removes tags by key.
func (s *Service) UntagResource(ctx context.Context, c *api.Call, id string, keys []string) error {
	m, err := s.load(ctx, s.cfg.Store, id)
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, c, "UntagResource", m, nil); err != nil {
		return err
	}
	drop := map[string]bool{}
	for _, k := range keys {
		drop[k] = true
	}
	_, err = s.update(ctx, m.ARN, func(_ store.Tx, m *Secret) error {
		if m.deleted() {
			return markedForDeletion()
		}
		kept := m.Tags[:0]
		for _, t := range m.Tags {
			if !drop[t.Key] {
				kept = append(kept, t)
			}
		}
		m.Tags = kept
		return nil
	})
	return err
}

// GetResourcePolicy returns the secret and its policy ("" when none).
func (s *Service) GetResourcePolicy(ctx context.Context, c *api.Call, id string) (*Secret, error) {
	m, err := s.load(ctx, s.cfg.Store, id)
	if err != nil {
		return nil, err
	}
	return m, s.authorize(ctx, c, "GetResourcePolicy", m, nil)
}

// PutResourcePolicy validates and attaches a resource policy. With
// blockPublic, a policy that grants access to everyone is refused with
// PublicPolicyException.
func (s *Service) PutResourcePolicy(ctx context.Context, c *api.Call, id, doc string, blockPublic bool) (*Secret, error) {
	p, err := parsePolicy(doc)
	if err != nil {
		return nil, err
	}
	if blockPublic && isPublic(p) {
		return nil, fmt.Errorf("%w: This resource policy contains a statement that grants public access to the secret.", ErrPublicPolicy)
	}
	m, err := s.load(ctx, s.cfg.Store, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, "PutResourcePolicy", m, nil); err != nil {
		return nil, err
	}
	return s.update(ctx, m.ARN, func(_ store.Tx, m *Secret) error {
		if m.deleted() {
			return markedForDeletion()
		}
		m.Policy = doc
		return nil
	})
}

// DeleteResourcePolicy removes the secret's policy.
func (s *Service) DeleteResourcePolicy(ctx context.Context, c *api.Call, id string) (*Secret, error) {
	m, err := s.load(ctx, s.cfg.Store, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, "DeleteResourcePolicy", m, nil); err != nil {
		return nil, err
	}
	return s.update(ctx, m.ARN, func(_ store.Tx, m *Secret) error {
		m.Policy = ""
		return nil
	})
}

// ValidationError is one finding of ValidateResourcePolicy.
type ValidationError struct {
	CheckName, Message string
}

// ValidateResourcePolicy checks a policy document: its grammar and
// whether it grants public access. Text that is not JSON at all is
// MalformedPolicyDocumentException, as in AWS.
func (s *Service) ValidateResourcePolicy(ctx context.Context, c *api.Call, id, doc string) ([]ValidationError, error) {
	if id != "" {
		m, err := s.load(ctx, s.cfg.Store, id)
		if err != nil {
			return nil, err
		}
		if err := s.authorize(ctx, c, "ValidateResourcePolicy", m, nil); err != nil {
			return nil, err
		}
	} else if err := c.Authorize(ctx, api.AuthzRequest{Action: "secretsmanager:ValidateResourcePolicy", Resource: "*"}); err != nil {
		return nil, err
	}
	if !json.Valid([]byte(doc)) {
		return nil, fmt.Errorf("%w: The resource policy isn't valid JSON.", ErrMalformedPolicy)
	}
	p, err := policy.ParseResource([]byte(doc))
	if err != nil {
		return []ValidationError{{CheckName: "POLICY_SYNTAX_CHECK", Message: err.Error()}}, nil
	}
	if isPublic(p) {
		return []ValidationError{{CheckName: "PUBLIC_POLICY", Message: "The policy grants access to every principal (\"*\") without a condition."}}, nil
	}
	return nil, nil
}

func parsePolicy(doc string) (*policy.Policy, error) {
	if len(doc) > 20480 {
		return nil, fmt.Errorf("%w: The resource policy is larger than 20,480 characters.", ErrMalformedPolicy)
	}
	p, err := policy.ParseResource([]byte(doc))
	if err != nil {
		return nil, fmt.Errorf("%w: This resource policy contains an unsupported or malformed statement: %s", ErrMalformedPolicy, err.Error())
	}
	return p, nil
}

// isPublic reports an Allow statement open to every principal with no
// condition to narrow it (what BlockPublicPolicy refuses).
func isPublic(p *policy.Policy) bool {
	for _, st := range p.Statements {
		if st.Effect != policy.Allow || len(st.Condition) > 0 {
			continue
		}
		if st.NotPrincipal != nil {
			return true
		}
		for _, v := range append(st.Principal["*"], st.Principal["AWS"]...) {
			if v == "*" {
				return true
			}
		}
	}
	return false
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// wake asks the background loop to look for due work soon.
func (s *Service) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
