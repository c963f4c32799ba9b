package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// API describes the secretsmanager service for the server.
func (s *Service) API() *api.Service {
	ops := map[string]api.Operation{
		"CreateSecret":             {Handler: api.JSON(s.apiCreateSecret)},
		"GetSecretValue":           {Handler: api.JSON(s.apiGetSecretValue), ReadOnly: true},
		"BatchGetSecretValue":      {Handler: api.JSON(s.apiBatchGetSecretValue), ReadOnly: true},
		"PutSecretValue":           {Handler: api.JSON(s.apiPutSecretValue)},
		"UpdateSecret":             {Handler: api.JSON(s.apiUpdateSecret)},
		"UpdateSecretVersionStage": {Handler: api.JSON(s.apiUpdateSecretVersionStage)},
		"ListSecretVersionIds":     {Handler: api.JSON(s.apiListSecretVersionIds), ReadOnly: true},
		"DescribeSecret":           {Handler: api.JSON(s.apiDescribeSecret), ReadOnly: true},
		"ListSecrets":              {Handler: api.JSON(s.apiListSecrets), ReadOnly: true},
		"DeleteSecret":             {Handler: api.JSON(s.apiDeleteSecret)},
		"RestoreSecret":            {Handler: api.JSON(s.apiRestoreSecret)},
		"TagResource":              {Handler: api.JSON(s.apiTagResource)},
		"UntagResource":            {Handler: api.JSON(s.apiUntagResource)},
		"GetResourcePolicy":        {Handler: api.JSON(s.apiGetResourcePolicy), ReadOnly: true},
		"PutResourcePolicy":        {Handler: api.JSON(s.apiPutResourcePolicy)},
		"DeleteResourcePolicy":     {Handler: api.JSON(s.apiDeleteResourcePolicy)},
		"ValidateResourcePolicy":   {Handler: api.JSON(s.apiValidateResourcePolicy), ReadOnly: true},
		"GetRandomPassword":        {Handler: api.JSON(s.apiGetRandomPassword), ReadOnly: true},
		"RotateSecret":             {Handler: api.JSON(s.apiRotateSecret)},
		"CancelRotateSecret":       {Handler: api.JSON(s.apiCancelRotateSecret)},
		"ReplicateSecretToRegions": {Handler: api.JSON(s.apiReplicate)},
	}
	return &api.Service{Name: "secretsmanager", EventSource: "secretsmanager.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "secretsmanager", Operations: ops, Errors: errorTable, Run: s.Run, ResourceTags: s.resourceTags}
}

func wireTime(tm time.Time) *awsproto.Time { return awsproto.NewTime(tm) }

func wireValue(str *string, bin []byte) *Value {
	if str == nil && bin == nil {
		return nil
	}
	return &Value{String: str, Binary: bin}
}

// secretIDInput is the input of operations that take only a SecretId.
type secretIDInput struct {
	SecretId string `json:"SecretId" required:"true"`
}

type arnNameOutput struct {
	ARN  string `json:"ARN,omitempty"`
	Name string `json:"Name,omitempty"`
}

type createSecretInput struct {
	Name                        string            `json:"Name" required:"true"`
	ClientRequestToken          string            `json:"ClientRequestToken,omitempty"`
	Description                 string            `json:"Description,omitempty"`
	KmsKeyId                    string            `json:"KmsKeyId,omitempty"`
	SecretBinary                []byte            `json:"SecretBinary,omitempty"`
	SecretString                *string           `json:"SecretString,omitempty"`
	Tags                        []Tag             `json:"Tags,omitempty"`
	AddReplicaRegions           []json.RawMessage `json:"AddReplicaRegions,omitempty"`
	ForceOverwriteReplicaSecret bool              `json:"ForceOverwriteReplicaSecret,omitempty"`
}

type createSecretOutput struct {
	ARN       string `json:"ARN"`
	Name      string `json:"Name"`
	VersionId string `json:"VersionId,omitempty"`
}

var errNoReplicas = fmt.Errorf("%w: Replication to other regions is not supported: this server serves one region.", ErrInvalidRequest)

func (s *Service) apiCreateSecret(ctx context.Context, c *api.Call, in *createSecretInput) (*createSecretOutput, error) {
	if len(in.AddReplicaRegions) > 0 {
		return nil, errNoReplicas
	}
	m, vid, err := s.CreateSecret(ctx, c, CreateInput{Name: in.Name, Description: in.Description, KmsKeyID: in.KmsKeyId, Token: in.ClientRequestToken, Tags: in.Tags, Value: wireValue(in.SecretString, in.SecretBinary)})
	if err != nil {
		return nil, err
	}
	return &createSecretOutput{ARN: m.ARN, Name: m.Name, VersionId: vid}, nil
}

func (s *Service) apiReplicate(ctx context.Context, c *api.Call, in *secretIDInput) (*arnNameOutput, error) {
	return nil, errNoReplicas
}

type getSecretValueInput struct {
	SecretId     string `json:"SecretId" required:"true"`
	VersionId    string `json:"VersionId,omitempty"`
	VersionStage string `json:"VersionStage,omitempty"`
}

type secretValueOutput struct {
	ARN           string         `json:"ARN"`
	Name          string         `json:"Name"`
	VersionId     string         `json:"VersionId"`
	SecretBinary  []byte         `json:"SecretBinary,omitempty"`
	SecretString  *string        `json:"SecretString,omitempty"`
	VersionStages []string       `json:"VersionStages,omitempty"`
	CreatedDate   *awsproto.Time `json:"CreatedDate,omitempty"`
}

func valueOutput(r *GetResult) secretValueOutput {
	return secretValueOutput{ARN: r.Secret.ARN, Name: r.Secret.Name, VersionId: r.VersionID, SecretBinary: r.Value.Binary, SecretString: r.Value.String, VersionStages: r.Stages, CreatedDate: wireTime(r.Created)}
}

func (s *Service) apiGetSecretValue(ctx context.Context, c *api.Call, in *getSecretValueInput) (*secretValueOutput, error) {
	r, err := s.GetSecretValue(ctx, c, in.SecretId, in.VersionId, in.VersionStage)
	if err != nil {
		return nil, err
	}
	out := valueOutput(r)
	return &out, nil
}

type filterWire struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

func filters(in []filterWire) []Filter {
	out := make([]Filter, len(in))
	for i, f := range in {
		out[i] = Filter(f)
	}
	return out
}

type batchGetInput struct {
	SecretIdList []string     `json:"SecretIdList,omitempty"`
	Filters      []filterWire `json:"Filters,omitempty"`
	MaxResults   int          `json:"MaxResults,omitempty"`
	NextToken    string       `json:"NextToken,omitempty"`
}

type apiErrorWire struct {
	SecretId  string `json:"SecretId"`
	ErrorCode string `json:"ErrorCode"`
	Message   string `json:"Message"`
}

type batchGetOutput struct {
	SecretValues []secretValueOutput `json:"SecretValues"`
	Errors       []apiErrorWire      `json:"Errors,omitempty"`
	NextToken    string              `json:"NextToken,omitempty"`
}

func (s *Service) apiBatchGetSecretValue(ctx context.Context, c *api.Call, in *batchGetInput) (*batchGetOutput, error) {
	vals, errs, next, err := s.BatchGetSecretValue(ctx, c, in.SecretIdList, filters(in.Filters), in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &batchGetOutput{SecretValues: []secretValueOutput{}, NextToken: next}
	for _, r := range vals {
		out.SecretValues = append(out.SecretValues, valueOutput(r))
	}
	for _, e := range errs {
		out.Errors = append(out.Errors, apiErrorWire{SecretId: e.SecretID, ErrorCode: e.Code, Message: e.Message})
	}
	return out, nil
}

type putSecretValueInput struct {
	SecretId           string   `json:"SecretId" required:"true"`
	ClientRequestToken string   `json:"ClientRequestToken,omitempty"`
	SecretBinary       []byte   `json:"SecretBinary,omitempty"`
	SecretString       *string  `json:"SecretString,omitempty"`
	VersionStages      []string `json:"VersionStages,omitempty"`
	RotationToken      string   `json:"RotationToken,omitempty"`
}

type putSecretValueOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionId     string   `json:"VersionId"`
	VersionStages []string `json:"VersionStages"`
}

func (s *Service) apiPutSecretValue(ctx context.Context, c *api.Call, in *putSecretValueInput) (*putSecretValueOutput, error) {
	v := wireValue(in.SecretString, in.SecretBinary)
	if v == nil {
		return nil, fmt.Errorf("%w: You must provide either SecretString or SecretBinary.", ErrInvalidParameter)
	}
	res, err := s.PutSecretValue(ctx, c, PutInput{SecretID: in.SecretId, Token: in.ClientRequestToken, Value: *v, Stages: in.VersionStages})
	if err != nil {
		return nil, err
	}
	return &putSecretValueOutput{ARN: res.Secret.ARN, Name: res.Secret.Name, VersionId: res.VersionID, VersionStages: res.Stages}, nil
}

type updateSecretInput struct {
	SecretId           string  `json:"SecretId" required:"true"`
	ClientRequestToken string  `json:"ClientRequestToken,omitempty"`
	Description        *string `json:"Description,omitempty"`
	KmsKeyId           *string `json:"KmsKeyId,omitempty"`
	SecretBinary       []byte  `json:"SecretBinary,omitempty"`
	SecretString       *string `json:"SecretString,omitempty"`
}

func (s *Service) apiUpdateSecret(ctx context.Context, c *api.Call, in *updateSecretInput) (*createSecretOutput, error) {
	m, vid, err := s.UpdateSecret(ctx, c, in.SecretId, in.ClientRequestToken, in.Description, in.KmsKeyId, wireValue(in.SecretString, in.SecretBinary))
	if err != nil {
		return nil, err
	}
	return &createSecretOutput{ARN: m.ARN, Name: m.Name, VersionId: vid}, nil
}

type updateStageInput struct {
	SecretId            string `json:"SecretId" required:"true"`
	VersionStage        string `json:"VersionStage" required:"true"`
	RemoveFromVersionId string `json:"RemoveFromVersionId,omitempty"`
	MoveToVersionId     string `json:"MoveToVersionId,omitempty"`
}

func (s *Service) apiUpdateSecretVersionStage(ctx context.Context, c *api.Call, in *updateStageInput) (*arnNameOutput, error) {
	m, err := s.UpdateSecretVersionStage(ctx, c, in.SecretId, in.VersionStage, in.RemoveFromVersionId, in.MoveToVersionId)
	if err != nil {
		return nil, err
	}
	return &arnNameOutput{ARN: m.ARN, Name: m.Name}, nil
}

type listVersionsInput struct {
	SecretId          string `json:"SecretId" required:"true"`
	MaxResults        int    `json:"MaxResults,omitempty"`
	NextToken         string `json:"NextToken,omitempty"`
	IncludeDeprecated bool   `json:"IncludeDeprecated,omitempty"`
}

type versionWire struct {
	VersionId        string         `json:"VersionId"`
	VersionStages    []string       `json:"VersionStages,omitempty"`
	LastAccessedDate *awsproto.Time `json:"LastAccessedDate,omitempty"`
	CreatedDate      *awsproto.Time `json:"CreatedDate,omitempty"`
	KmsKeyIds        []string       `json:"KmsKeyIds,omitempty"`
}

type listVersionsOutput struct {
	Versions  []versionWire `json:"Versions"`
	NextToken string        `json:"NextToken,omitempty"`
	ARN       string        `json:"ARN"`
	Name      string        `json:"Name"`
}

func (s *Service) apiListSecretVersionIds(ctx context.Context, c *api.Call, in *listVersionsInput) (*listVersionsOutput, error) {
	m, vs, next, err := s.ListSecretVersionIds(ctx, c, in.SecretId, in.IncludeDeprecated, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &listVersionsOutput{Versions: []versionWire{}, NextToken: next, ARN: m.ARN, Name: m.Name}
	for _, v := range vs {
		w := versionWire{VersionId: v.ID, VersionStages: v.Stages, LastAccessedDate: wireTime(v.LastAccessed), CreatedDate: wireTime(v.Created)}
		if v.KeyARN != "" {
			w.KmsKeyIds = []string{v.KeyARN}
		}
		out.Versions = append(out.Versions, w)
	}
	return out, nil
}

// describeOutput is DescribeSecret's output and, with SecretVersionsToStages
// instead of VersionIdsToStages, a ListSecrets entry.
type describeOutput struct {
	ARN                    string              `json:"ARN"`
	Name                   string              `json:"Name"`
	Description            string              `json:"Description,omitempty"`
	KmsKeyId               string              `json:"KmsKeyId,omitempty"`
	RotationEnabled        *bool               `json:"RotationEnabled,omitempty"`
	RotationLambdaARN      string              `json:"RotationLambdaARN,omitempty"`
	RotationRules          *RotationRules      `json:"RotationRules,omitempty"`
	LastRotatedDate        *awsproto.Time      `json:"LastRotatedDate,omitempty"`
	LastChangedDate        *awsproto.Time      `json:"LastChangedDate,omitempty"`
	LastAccessedDate       *awsproto.Time      `json:"LastAccessedDate,omitempty"`
	DeletedDate            *awsproto.Time      `json:"DeletedDate,omitempty"`
	NextRotationDate       *awsproto.Time      `json:"NextRotationDate,omitempty"`
	Tags                   []Tag               `json:"Tags,omitempty"`
	VersionIdsToStages     map[string][]string `json:"VersionIdsToStages,omitempty"`
	SecretVersionsToStages map[string][]string `json:"SecretVersionsToStages,omitempty"`
	CreatedDate            *awsproto.Time      `json:"CreatedDate,omitempty"`
	PrimaryRegion          string              `json:"PrimaryRegion,omitempty"`
}

// rotationEnabled is DescribeSecret's RotationEnabled: absent for a secret
// whose rotation was never configured, and false (not absent) once
// CancelRotateSecret has turned it off, as AWS answers. RotateSecret always
// leaves an endpoint behind, so that is the mark of "configured once".
func rotationEnabled(m *Secret) *bool {
	if !m.Rotation && m.RotationURL == "" {
		return nil
	}
	on := m.Rotation
	return &on
}

func describe(m *Secret, region string) *describeOutput {
	d := &describeOutput{ARN: m.ARN, Name: m.Name, Description: m.Description, KmsKeyId: m.KmsKeyID,
		RotationEnabled: rotationEnabled(m), RotationLambdaARN: m.RotationURL, RotationRules: m.Rules,
		LastRotatedDate: wireTime(m.LastRotated), LastChangedDate: wireTime(m.LastChanged), LastAccessedDate: wireTime(m.LastAccessed),
		DeletedDate: wireTime(m.Deleted), Tags: m.Tags, CreatedDate: wireTime(m.Created), PrimaryRegion: region}
	if m.Rotation {
		d.NextRotationDate = wireTime(m.NextRotation)
	}
	if st := m.stageMap(); len(st) > 0 {
		d.VersionIdsToStages = st
	}
	return d
}

func (s *Service) apiDescribeSecret(ctx context.Context, c *api.Call, in *secretIDInput) (*describeOutput, error) {
	m, err := s.DescribeSecret(ctx, c, in.SecretId)
	if err != nil {
		return nil, err
	}
	return describe(m, s.cfg.Region), nil
}

type listSecretsInput struct {
	IncludePlannedDeletion bool         `json:"IncludePlannedDeletion,omitempty"`
	MaxResults             int          `json:"MaxResults,omitempty"`
	NextToken              string       `json:"NextToken,omitempty"`
	Filters                []filterWire `json:"Filters,omitempty"`
	SortOrder              string       `json:"SortOrder,omitempty"`
	SortBy                 string       `json:"SortBy,omitempty"`
}

type listSecretsOutput struct {
	SecretList []*describeOutput `json:"SecretList"`
	NextToken  string            `json:"NextToken,omitempty"`
}

func (s *Service) apiListSecrets(ctx context.Context, c *api.Call, in *listSecretsInput) (*listSecretsOutput, error) {
	list, next, err := s.ListSecrets(ctx, c, ListInput{Filters: filters(in.Filters), IncludePlannedDeletion: in.IncludePlannedDeletion, SortBy: in.SortBy, SortOrder: in.SortOrder, MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &listSecretsOutput{SecretList: []*describeOutput{}, NextToken: next}
	for _, m := range list {
		d := describe(m, s.cfg.Region)
		d.SecretVersionsToStages, d.VersionIdsToStages = d.VersionIdsToStages, nil
		out.SecretList = append(out.SecretList, d)
	}
	return out, nil
}

type deleteSecretInput struct {
	SecretId                   string `json:"SecretId" required:"true"`
	RecoveryWindowInDays       *int64 `json:"RecoveryWindowInDays,omitempty"`
	ForceDeleteWithoutRecovery bool   `json:"ForceDeleteWithoutRecovery,omitempty"`
}

type deleteSecretOutput struct {
	ARN          string         `json:"ARN"`
	Name         string         `json:"Name"`
	DeletionDate *awsproto.Time `json:"DeletionDate,omitempty"`
}

func (s *Service) apiDeleteSecret(ctx context.Context, c *api.Call, in *deleteSecretInput) (*deleteSecretOutput, error) {
	m, when, err := s.DeleteSecret(ctx, c, in.SecretId, in.RecoveryWindowInDays, in.ForceDeleteWithoutRecovery)
	if err != nil {
		return nil, err
	}
	return &deleteSecretOutput{ARN: m.ARN, Name: m.Name, DeletionDate: wireTime(when)}, nil
}

func (s *Service) apiRestoreSecret(ctx context.Context, c *api.Call, in *secretIDInput) (*arnNameOutput, error) {
	m, err := s.RestoreSecret(ctx, c, in.SecretId)
	if err != nil {
		return nil, err
	}
	return &arnNameOutput{ARN: m.ARN, Name: m.Name}, nil
}

type tagInput struct {
	SecretId string `json:"SecretId" required:"true"`
	Tags     []Tag  `json:"Tags" required:"true"`
}

func (s *Service) apiTagResource(ctx context.Context, c *api.Call, in *tagInput) (*struct{}, error) {
	return nil, s.TagResource(ctx, c, in.SecretId, in.Tags)
}

type untagInput struct {
	SecretId string   `json:"SecretId" required:"true"`
	TagKeys  []string `json:"TagKeys" required:"true"`
}

func (s *Service) apiUntagResource(ctx context.Context, c *api.Call, in *untagInput) (*struct{}, error) {
	return nil, s.UntagResource(ctx, c, in.SecretId, in.TagKeys)
}

type policyOutput struct {
	ARN            string `json:"ARN"`
	Name           string `json:"Name"`
	ResourcePolicy string `json:"ResourcePolicy,omitempty"`
}

func (s *Service) apiGetResourcePolicy(ctx context.Context, c *api.Call, in *secretIDInput) (*policyOutput, error) {
	m, err := s.GetResourcePolicy(ctx, c, in.SecretId)
	if err != nil {
		return nil, err
	}
	return &policyOutput{ARN: m.ARN, Name: m.Name, ResourcePolicy: m.Policy}, nil
}

type putPolicyInput struct {
	SecretId          string `json:"SecretId" required:"true"`
	ResourcePolicy    string `json:"ResourcePolicy" required:"true"`
	BlockPublicPolicy bool   `json:"BlockPublicPolicy,omitempty"`
}

func (s *Service) apiPutResourcePolicy(ctx context.Context, c *api.Call, in *putPolicyInput) (*arnNameOutput, error) {
	m, err := s.PutResourcePolicy(ctx, c, in.SecretId, in.ResourcePolicy, in.BlockPublicPolicy)
	if err != nil {
		return nil, err
	}
	return &arnNameOutput{ARN: m.ARN, Name: m.Name}, nil
}

func (s *Service) apiDeleteResourcePolicy(ctx context.Context, c *api.Call, in *secretIDInput) (*arnNameOutput, error) {
	m, err := s.DeleteResourcePolicy(ctx, c, in.SecretId)
	if err != nil {
		return nil, err
	}
	return &arnNameOutput{ARN: m.ARN, Name: m.Name}, nil
}

type validatePolicyInput struct {
	SecretId       string `json:"SecretId,omitempty"`
	ResourcePolicy string `json:"ResourcePolicy" required:"true"`
}

type validationErrorWire struct {
	CheckName    string `json:"CheckName"`
	ErrorMessage string `json:"ErrorMessage"`
}

type validatePolicyOutput struct {
	PolicyValidationPassed bool                  `json:"PolicyValidationPassed"`
	ValidationErrors       []validationErrorWire `json:"ValidationErrors"`
}

func (s *Service) apiValidateResourcePolicy(ctx context.Context, c *api.Call, in *validatePolicyInput) (*validatePolicyOutput, error) {
	errs, err := s.ValidateResourcePolicy(ctx, c, in.SecretId, in.ResourcePolicy)
	if err != nil {
		return nil, err
	}
	out := &validatePolicyOutput{PolicyValidationPassed: len(errs) == 0, ValidationErrors: []validationErrorWire{}}
	for _, e := range errs {
		out.ValidationErrors = append(out.ValidationErrors, validationErrorWire{CheckName: e.CheckName, ErrorMessage: e.Message})
	}
	return out, nil
}

type randomPasswordInput struct {
	PasswordLength          *int64 `json:"PasswordLength,omitempty"`
	ExcludeCharacters       string `json:"ExcludeCharacters,omitempty"`
	ExcludeNumbers          bool   `json:"ExcludeNumbers,omitempty"`
	ExcludePunctuation      bool   `json:"ExcludePunctuation,omitempty"`
	ExcludeUppercase        bool   `json:"ExcludeUppercase,omitempty"`
	ExcludeLowercase        bool   `json:"ExcludeLowercase,omitempty"`
	IncludeSpace            bool   `json:"IncludeSpace,omitempty"`
	RequireEachIncludedType *bool  `json:"RequireEachIncludedType,omitempty"`
}

type randomPasswordOutput struct {
	RandomPassword string `json:"RandomPassword"`
}

func (s *Service) apiGetRandomPassword(ctx context.Context, c *api.Call, in *randomPasswordInput) (*randomPasswordOutput, error) {
	pw, err := s.GetRandomPassword(ctx, c, PasswordInput{Length: in.PasswordLength, ExcludeCharacters: in.ExcludeCharacters,
		ExcludeNumbers: in.ExcludeNumbers, ExcludePunctuation: in.ExcludePunctuation, ExcludeUppercase: in.ExcludeUppercase,
		ExcludeLowercase: in.ExcludeLowercase, IncludeSpace: in.IncludeSpace, RequireEachIncludedType: in.RequireEachIncludedType})
	if err != nil {
		return nil, err
	}
	return &randomPasswordOutput{RandomPassword: pw}, nil
}

type rotateInput struct {
	SecretId           string         `json:"SecretId" required:"true"`
	ClientRequestToken string         `json:"ClientRequestToken,omitempty"`
	RotationLambdaARN  string         `json:"RotationLambdaARN,omitempty"`
	RotationRules      *RotationRules `json:"RotationRules,omitempty"`
	RotateImmediately  *bool          `json:"RotateImmediately,omitempty"`
}

func (s *Service) apiRotateSecret(ctx context.Context, c *api.Call, in *rotateInput) (*createSecretOutput, error) {
	m, vid, err := s.RotateSecret(ctx, c, RotateInput{SecretID: in.SecretId, Token: in.ClientRequestToken, Endpoint: in.RotationLambdaARN, Rules: in.RotationRules, RotateImmediately: in.RotateImmediately})
	if err != nil {
		return nil, err
	}
	return &createSecretOutput{ARN: m.ARN, Name: m.Name, VersionId: vid}, nil
}

func (s *Service) apiCancelRotateSecret(ctx context.Context, c *api.Call, in *secretIDInput) (*createSecretOutput, error) {
	m, vid, err := s.CancelRotateSecret(ctx, c, in.SecretId)
	if err != nil {
		return nil, err
	}
	return &createSecretOutput{ARN: m.ARN, Name: m.Name, VersionId: vid}, nil
}
