package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/tagging"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/ids"
	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/store"
)

var (
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)
	tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{32,64}$`)
)

// authorize asks whether c may perform action on m, with m's resource
// policy and the secretsmanager condition keys.
func (s *Service) authorize(ctx context.Context, c *api.Call, action string, m *Secret, extra map[string][]string) error {
	pol, err := s.policies.get(m.Policy)
	if err != nil {
		return fmt.Errorf("secretsmanager: stored policy of %s no longer parses: %w", m.ARN, err)
	}
	cond := make(map[string][]string, len(extra)+len(m.Tags)+1)
	cond["secretsmanager:secretid"] = []string{m.ARN}
	for _, t := range m.Tags {
		cond["secretsmanager:resourcetag/"+strings.ToLower(t.Key)] = []string{t.Value}
	}
	for k, v := range extra {
		cond[k] = v
	}
	// aws:ResourceTag/* (from these tags), aws:RequestTag/* and aws:TagKeys
	// are the server's, as for every service.
	return c.Authorize(ctx, api.AuthzRequest{Action: "secretsmanager:" + action, Resource: m.ARN, ResourcePolicy: pol, Mode: policy.Standard, Context: cond, ResourceTags: tagMap(m.Tags)})
}

// newToken returns a random version id in UUID form, as the SDKs make.
func (s *Service) newToken() (string, error) {
	var b [16]byte
	if err := s.readRand(b[:]); err != nil {
		return "", err
	}
	return ids.FormatUUID(b), nil
}

func (s *Service) tokenOrNew(token string) (string, error) {
	if token == "" {
		return s.newToken()
	}
	if !tokenRE.MatchString(token) {
		return "", fmt.Errorf("%w: ClientRequestToken must be 32 to 64 characters of letters, digits, hyphens and underscores.", ErrInvalidParameter)
	}
	return token, nil
}

const suffixChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newARN forms the secret's ARN with AWS's random six-character suffix.
func (s *Service) newARN(name string) (string, error) {
	suffix, err := s.draw(6, suffixChars)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.cfg.Region, s.cfg.AccountID, name, suffix), nil
}

func checkValue(v *Value) error {
	if v == nil {
		return nil
	}
	if v.String != nil && v.Binary != nil {
		return fmt.Errorf("%w: You can't specify both a binary secret value and a string secret value in the same secret.", ErrInvalidParameter)
	}
	if v.size() > 65536 {
		return fmt.Errorf("%w: The secret value is larger than the 65,536 byte limit.", ErrInvalidParameter)
	}
	return nil
}

// checkTags applies AWS's tag rules (internal/tagging) with Secrets
// Manager's error, InvalidParameterException.
func checkTags(tags []Tag) error {
	return tagging.Wrap(tagging.Check(tags, kvTag), ErrInvalidParameter, ErrInvalidParameter)
}

func kvTag(t Tag) tagging.Tag { return tagging.Tag(t) }

// CreateInput is CreateSecret's input.
type CreateInput struct {
	Name, Description, KmsKeyID, Token string
	Tags                               []Tag
	Value                              *Value // nil creates a secret with no version
}

// CreateSecret creates a secret, and its first version (AWSCURRENT) when
// a value is given. Retrying with the same token and value returns the
// same result.
func (s *Service) CreateSecret(ctx context.Context, c *api.Call, in CreateInput) (*Secret, string, error) {
	if !nameRE.MatchString(in.Name) {
		return nil, "", fmt.Errorf("%w: Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!", ErrInvalidParameter)
	}
	if err := checkValue(in.Value); err != nil {
		return nil, "", err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, "", err
	}
	if len(in.Description) > 2048 {
		return nil, "", fmt.Errorf("%w: Description is longer than 2048 characters.", ErrInvalidParameter)
	}
	token, err := s.tokenOrNew(in.Token)
	if err != nil {
		return nil, "", err
	}
	if old, err := s.load(ctx, s.cfg.Store, in.Name); err == nil {
		if old.deleted() {
			return nil, "", fmt.Errorf("%w: You can't create this secret because a secret with this name is already scheduled for deletion.", ErrInvalidRequest)
		}
		if err := s.authorize(ctx, c, "CreateSecret", old, nil); err != nil {
			return nil, "", err
		}
		if same, err := s.sameVersion(ctx, s.cfg.Store, old, token, in.Value); err != nil || same {
			if err != nil {
				return nil, "", err
			}
			return old, token, nil
		}
		return nil, "", fmt.Errorf("%w: The operation failed because the secret %s already exists.", ErrExists, in.Name)
	}
	arn, err := s.newARN(in.Name)
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	m := &Secret{ARN: arn, Name: in.Name, Description: in.Description, KmsKeyID: in.KmsKeyID, Tags: in.Tags, Created: now, LastChanged: now, Versions: map[string]*Version{}}
	if err := s.authorize(ctx, c, "CreateSecret", m, nil); err != nil {
		return nil, "", err
	}
	var sv *sealedValue
	if in.Value != nil {
		if sv, err = s.seal(ctx, c, m, token, *in.Value); err != nil {
			return nil, "", err
		}
		m.Versions[token] = &Version{Stages: []string{stageCurrent}, Created: now, KeyARN: sv.KeyARN}
	}
	err = s.tx(ctx, func(tx store.Tx) error {
		if rec, err := tx.Get(ctx, kindSecret, m.Name); err == nil {
			old, err := decodeSecret(rec)
			if err != nil {
				return err
			}
			if !old.deleted() || now.Before(old.PurgeAt) {
				return fmt.Errorf("%w: The operation failed because the secret %s already exists.", ErrExists, in.Name)
			}
			if err := purgeRecords(ctx, tx, old); err != nil {
				return err
			}
		}
		if sv != nil {
			if err := tx.Create(ctx, versionRecord(m.ARN, token, sv)); err != nil {
				return err
			}
		}
		rec := encodeSecret(m)
		if err := tx.Create(ctx, rec); err != nil {
			if errors.Is(err, store.ErrExists) {
				return fmt.Errorf("%w: The operation failed because the secret %s already exists.", ErrExists, in.Name)
			}
			return err
		}
		m.rev = rec.Version
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if sv == nil {
		token = ""
	}
	return m, token, nil
}

// sameVersion reports whether version token of m exists with value v (an
// idempotent retry); a version with that token and another value is
// ResourceExistsException.
func (s *Service) sameVersion(ctx context.Context, r store.Reader, m *Secret, token string, v *Value) (bool, error) {
	if _, ok := m.Versions[token]; !ok {
		return false, nil
	}
	if v != nil {
		sv, err := s.loadValue(ctx, r, m, token)
		if err != nil {
			return false, err
		}
		if bytes.Equal(sv.Digest, v.digest()) {
			return true, nil
		}
	}
	return false, fmt.Errorf("%w: You can't modify an existing version, you can only create a new version.", ErrExists)
}

// PutInput is PutSecretValue's request.
type PutInput struct {
	// SecretID is the secret's name or ARN.
	SecretID string
	// Token is the ClientRequestToken, which becomes the version id; empty
	// means a new random one. Repeating a token with the same value is a
	// no-op; with another value it is ResourceExistsException.
	Token string
	// Value is the secret string or binary to store.
	Value Value
	// Stages are the staging labels the version takes; nil means
	// AWSCURRENT. The first version of a secret is AWSCURRENT whatever asked.
	Stages []string
}

// PutResult is the version PutSecretValue stored (or found stored).
type PutResult struct {
	Secret    *Secret
	VersionID string
	Stages    []string
}

// PutSecretValue stores a new version of secret in.SecretID carrying
// in.Stages (default AWSCURRENT). Moving AWSCURRENT makes the previous
// current version AWSPREVIOUS. The same token with the same value is a
// no-op.
func (s *Service) PutSecretValue(ctx context.Context, c *api.Call, in PutInput) (*PutResult, error) {
	if err := checkValue(&in.Value); err != nil {
		return nil, err
	}
	m, err := s.load(ctx, s.cfg.Store, in.SecretID)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, "PutSecretValue", m, nil); err != nil {
		return nil, err
	}
	return s.putVersion(ctx, c, m, in, nil)
}

func checkStages(stages []string) error {
	if len(stages) > 20 {
		return fmt.Errorf("%w: A version can have at most 20 staging labels.", ErrInvalidParameter)
	}
	for _, st := range stages {
		if len(st) < 1 || len(st) > 256 {
			return fmt.Errorf("%w: Staging labels must be 1 to 256 characters.", ErrInvalidParameter)
		}
	}
	return nil
}

// meta, when not nil, changes the secret's metadata in the same
// transaction as the new version (UpdateSecret), and before the value is
// sealed, so a new KmsKeyId seals it.
// putVersion stores in.Value as a new version of m; in.SecretID is not
// used (m is the loaded secret).
func (s *Service) putVersion(ctx context.Context, c *api.Call, m *Secret, in PutInput, meta func(*Secret)) (*PutResult, error) {
	v, stages := in.Value, in.Stages
	if m.deleted() {
		return nil, markedForDeletion()
	}
	if meta != nil {
		meta(m)
	}
	if stages == nil {
		stages = []string{stageCurrent}
	}
	if err := checkStages(stages); err != nil {
		return nil, err
	}
	token, err := s.tokenOrNew(in.Token)
	if err != nil {
		return nil, err
	}
	if same, err := s.sameVersion(ctx, s.cfg.Store, m, token, &v); err != nil || same {
		if err != nil {
			return nil, err
		}
		if meta == nil {
			return &PutResult{m, token, m.Versions[token].Stages}, nil
		}
		out, err := s.update(ctx, m.ARN, func(_ store.Tx, m *Secret) error { meta(m); return nil })
		if err != nil {
			return nil, err
		}
		return &PutResult{out, token, out.Versions[token].Stages}, nil
	}
	sv, err := s.seal(ctx, c, m, token, v)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out, err := s.update(ctx, m.ARN, func(tx store.Tx, m *Secret) error {
		if m.deleted() {
			return markedForDeletion()
		}
		if meta != nil {
			meta(m)
		}
		// Another request with this token (perhaps on another server
		// sharing the store) got here first: the same value is the
		// idempotent retry AWS allows, another value is an error.
		if same, err := s.sameVersion(ctx, tx, m, token, &v); err != nil || same {
			if same && meta != nil {
				return nil // keep the metadata change; the version is there
			}
			if same {
				return errSameVersion
			}
			return err
		}
		m.Versions[token] = &Version{Created: now, KeyARN: sv.KeyARN}
		if m.versionWith(stageCurrent) == "" && !hasStage(stages, stageCurrent) {
			stages = append(stages, stageCurrent) // the first value is current whatever asked
		}
		for _, st := range stages {
			m.moveStage(st, token)
		}
		m.LastChanged = now
		for _, old := range m.prune() {
			if err := tx.Delete(ctx, kindVersion, versionKey(m.ARN, old)); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return tx.Create(ctx, versionRecord(m.ARN, token, sv))
	})
	if errors.Is(err, errSameVersion) {
		if out, err = s.load(ctx, s.cfg.Store, m.ARN); err != nil {
			return nil, err
		}
		return &PutResult{out, token, out.Versions[token].Stages}, nil
	}
	if err != nil {
		return nil, err
	}
	return &PutResult{out, token, out.Versions[token].Stages}, nil
}

// errSameVersion ends a version write that found its token already stored
// with the same value.
var errSameVersion = errors.New("secretsmanager: version already stored")

// UpdateSecret changes a secret's description or KMS key (used for later
// versions) and, given a value, stores it as a new AWSCURRENT version.
func (s *Service) UpdateSecret(ctx context.Context, c *api.Call, id, token string, desc, kmsKeyID *string, v *Value) (*Secret, string, error) {
	if err := checkValue(v); err != nil {
		return nil, "", err
	}
	if desc != nil && len(*desc) > 2048 {
		return nil, "", fmt.Errorf("%w: Description is longer than 2048 characters.", ErrInvalidParameter)
	}
	m, err := s.load(ctx, s.cfg.Store, id)
	if err != nil {
		return nil, "", err
	}
	if err := s.authorize(ctx, c, "UpdateSecret", m, nil); err != nil {
		return nil, "", err
	}
	if m.deleted() {
		return nil, "", markedForDeletion()
	}
	var meta func(*Secret)
	if desc != nil || kmsKeyID != nil {
		meta = func(m *Secret) {
			if desc != nil {
				m.Description = *desc
			}
			if kmsKeyID != nil {
				m.KmsKeyID = *kmsKeyID
			}
			m.LastChanged = s.now()
		}
	}
	if v == nil {
		if meta == nil {
			return m, "", nil
		}
		m, err = s.update(ctx, m.ARN, func(_ store.Tx, m *Secret) error { meta(m); return nil })
		if err != nil {
			return nil, "", err
		}
		return m, "", nil
	}
	// Metadata and the new version commit in one transaction: a value
	// that cannot be sealed (say, under a KmsKeyId that does not exist)
	// leaves the description and key as they were.
	res, err := s.putVersion(ctx, c, m, PutInput{Token: token, Value: *v}, meta)
	if err != nil {
		return nil, "", err
	}
	return res.Secret, res.VersionID, nil
}

// GetResult is one secret value as read.
type GetResult struct {
	// Secret may be shared with the Service's cache: read it, never
	// modify it.
	Secret    *Secret
	VersionID string
	Value     Value
	Stages    []string
	Created   time.Time
}

// GetSecretValue reads a version of secret id chosen by versionID or stage
// (default AWSCURRENT). The caller needs secretsmanager:GetSecretValue on
// the secret and kms:Decrypt on its key.
func (s *Service) GetSecretValue(ctx context.Context, c *api.Call, id, versionID, stage string) (*GetResult, error) {
	m, err := s.loadRead(ctx, id)
	if err != nil {
		return nil, err
	}
	cond := map[string][]string{}
	if versionID != "" {
		cond["secretsmanager:versionid"] = []string{versionID}
	}
	if stage != "" {
		cond["secretsmanager:versionstage"] = []string{stage}
	}
	if err := s.authorize(ctx, c, "GetSecretValue", m, cond); err != nil {
		return nil, err
	}
	if m.deleted() {
		return nil, markedForDeletion()
	}
	vid, err := pickVersion(m, versionID, stage)
	if err != nil {
		return nil, err
	}
	sv, err := s.loadValue(ctx, s.cfg.Store, m, vid)
	if err != nil {
		return nil, err
	}
	val, err := s.open(ctx, c, m, vid, sv)
	if err != nil {
		return nil, err
	}
	s.touch(ctx, m, vid)
	ver := m.Versions[vid]
	return &GetResult{Secret: m, VersionID: vid, Value: val, Stages: append([]string(nil), ver.Stages...), Created: ver.Created}, nil
}

func pickVersion(m *Secret, versionID, stage string) (string, error) {
	if versionID != "" {
		v, ok := m.Versions[versionID]
		if !ok || (stage != "" && !hasStage(v.Stages, stage)) {
			return "", fmt.Errorf("%w: Secrets Manager can't find the specified secret value for VersionId: %s", ErrNotFound, versionID)
		}
		return versionID, nil
	}
	if stage == "" {
		stage = stageCurrent
	}
	vid := m.versionWith(stage)
	if vid == "" {
		return "", fmt.Errorf("%w: Secrets Manager can't find the specified secret value for staging label: %s", ErrNotFound, stage)
	}
	return vid, nil
}

// touch records the access date, as AWS does, to the day: at most one
// write per secret per day, so reads stay reads.
func (s *Service) touch(ctx context.Context, m *Secret, vid string) {
	day := s.now().Truncate(24 * time.Hour)
	if !m.LastAccessed.Before(day) && !m.Versions[vid].LastAccessed.Before(day) {
		return
	}
	_, err := s.update(ctx, m.ARN, func(_ store.Tx, m *Secret) error {
		m.LastAccessed = day
		if v := m.Versions[vid]; v != nil {
			v.LastAccessed = day
		}
		return nil
	})
	if err != nil {
		s.log.Debug("secretsmanager: record access date", "secret", m.ARN, "err", err)
	}
}

// UpdateSecretVersionStage moves (or removes) a staging label.
func (s *Service) UpdateSecretVersionStage(ctx context.Context, c *api.Call, id, stage, removeFrom, moveTo string) (*Secret, error) {
	if err := checkStages([]string{stage}); err != nil {
		return nil, err
	}
	m, err := s.load(ctx, s.cfg.Store, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, "UpdateSecretVersionStage", m, map[string][]string{"secretsmanager:versionstage": {stage}}); err != nil {
		return nil, err
	}
	return s.update(ctx, m.ARN, func(_ store.Tx, m *Secret) error {
		if m.deleted() {
			return markedForDeletion()
		}
		return applyStageMove(m, stage, removeFrom, moveTo, s.now())
	})
}

func applyStageMove(m *Secret, stage, removeFrom, moveTo string, now time.Time) error {
	holder := m.versionWith(stage)
	if removeFrom != "" {
		if _, ok := m.Versions[removeFrom]; !ok {
			return fmt.Errorf("%w: The version %s doesn't exist.", ErrInvalidParameter, removeFrom)
		}
		if holder != removeFrom {
			return fmt.Errorf("%w: The staging label %s isn't attached to version %s.", ErrInvalidParameter, stage, removeFrom)
		}
	}
	if moveTo == "" {
		if removeFrom == "" {
			return fmt.Errorf("%w: You must specify RemoveFromVersionId, MoveToVersionId or both.", ErrInvalidParameter)
		}
		if stage == stageCurrent {
			return fmt.Errorf("%w: You can't remove the staging label AWSCURRENT; move it to another version instead.", ErrInvalidParameter)
		}
		m.Versions[removeFrom].Stages = removeStage(m.Versions[removeFrom].Stages, stage)
		m.LastChanged = now
		return nil
	}
	if _, ok := m.Versions[moveTo]; !ok {
		return fmt.Errorf("%w: The version %s doesn't exist.", ErrInvalidParameter, moveTo)
	}
	if holder != "" && holder != moveTo && holder != removeFrom {
		return fmt.Errorf("%w: The staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.", ErrInvalidParameter, stage, holder)
	}
	m.moveStage(stage, moveTo)
	m.LastChanged = now
	return nil
}
