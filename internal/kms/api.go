package kms

import (
	"context"
	"fmt"
	"io"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// API describes the kms service for the server: every operation, and the
// background loop that purges keys past their deletion window and rotates
// keys that are due.
func (s *Service) API() *api.Service {
	ops := map[string]api.Operation{
		"CreateKey":                           {Handler: api.JSON(s.apiCreateKey)},
		"DescribeKey":                         {Handler: api.JSON(s.apiDescribeKey), ReadOnly: true},
		"ListKeys":                            {Handler: api.JSON(s.apiListKeys), ReadOnly: true},
		"UpdateKeyDescription":                {Handler: api.JSON(s.apiUpdateKeyDescription)},
		"CreateAlias":                         {Handler: api.JSON(s.apiCreateAlias)},
		"UpdateAlias":                         {Handler: api.JSON(s.apiUpdateAlias)},
		"DeleteAlias":                         {Handler: api.JSON(s.apiDeleteAlias)},
		"ListAliases":                         {Handler: api.JSON(s.apiListAliases), ReadOnly: true},
		"GetPublicKey":                        {Handler: api.JSON(s.apiGetPublicKey), ReadOnly: true},
		"Encrypt":                             {Handler: api.JSON(s.apiEncrypt), ReadOnly: true},
		"Decrypt":                             {Handler: api.JSON(s.apiDecrypt), ReadOnly: true},
		"HPKEOpen":                            {Handler: api.JSON(s.apiHPKEOpen), ReadOnly: true},
		"HPKEOpenBatch":                       {Handler: api.JSON(s.apiHPKEOpenBatch), ReadOnly: true},
		"ReEncrypt":                           {Handler: api.JSON(s.apiReEncrypt), ReadOnly: true},
		"GenerateDataKey":                     {Handler: api.JSON(s.apiGenerateDataKey), ReadOnly: true},
		"GenerateDataKeyWithoutPlaintext":     {Handler: api.JSON(s.apiGenerateDataKeyWithoutPlaintext), ReadOnly: true},
		"GenerateDataKeyPair":                 {Handler: api.JSON(s.apiGenerateDataKeyPair), ReadOnly: true},
		"GenerateDataKeyPairWithoutPlaintext": {Handler: api.JSON(s.apiGenerateDataKeyPairWithoutPlaintext), ReadOnly: true},
		"GenerateRandom":                      {Handler: api.JSON(s.apiGenerateRandom), ReadOnly: true},
		"Sign":                                {Handler: api.JSON(s.apiSign), ReadOnly: true},
		"Verify":                              {Handler: api.JSON(s.apiVerify), ReadOnly: true},
		"GenerateMac":                         {Handler: api.JSON(s.apiGenerateMac), ReadOnly: true},
		"VerifyMac":                           {Handler: api.JSON(s.apiVerifyMac), ReadOnly: true},
		"EnableKey":                           {Handler: api.JSON(s.apiEnableKey)},
		"DisableKey":                          {Handler: api.JSON(s.apiDisableKey)},
		"ScheduleKeyDeletion":                 {Handler: api.JSON(s.apiScheduleKeyDeletion)},
		"CancelKeyDeletion":                   {Handler: api.JSON(s.apiCancelKeyDeletion)},
		"EnableKeyRotation":                   {Handler: api.JSON(s.apiEnableKeyRotation)},
		"DisableKeyRotation":                  {Handler: api.JSON(s.apiDisableKeyRotation)},
		"GetKeyRotationStatus":                {Handler: api.JSON(s.apiGetKeyRotationStatus), ReadOnly: true},
		"RotateKeyOnDemand":                   {Handler: api.JSON(s.apiRotateKeyOnDemand)},
		"ListKeyRotations":                    {Handler: api.JSON(s.apiListKeyRotations), ReadOnly: true},
		"GetKeyPolicy":                        {Handler: api.JSON(s.apiGetKeyPolicy), ReadOnly: true},
		"PutKeyPolicy":                        {Handler: api.JSON(s.apiPutKeyPolicy)},
		"ListKeyPolicies":                     {Handler: api.JSON(s.apiListKeyPolicies), ReadOnly: true},
		"TagResource":                         {Handler: api.JSON(s.apiTagResource)},
		"UntagResource":                       {Handler: api.JSON(s.apiUntagResource)},
		"ListResourceTags":                    {Handler: api.JSON(s.apiListResourceTags), ReadOnly: true},
	}
	return &api.Service{Name: "kms", EventSource: "kms.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "TrentService", Operations: ops, Errors: errorTable, Run: s.run, ResourceTags: s.resourceTags}
}

// Wire shapes (botocore kms 2014-11-01).

type keyIDInput struct {
	KeyID string `json:"KeyId" required:"true"`
}

type keyIDOutput struct {
	KeyID string `json:"KeyId,omitempty"`
}

type empty struct{}

type keyMetadata struct {
	AWSAccountID                string         `json:"AWSAccountId"`
	KeyID                       string         `json:"KeyId"`
	Arn                         string         `json:"Arn"`
	CreationDate                *awsproto.Time `json:"CreationDate,omitempty"`
	Enabled                     bool           `json:"Enabled"`
	Description                 string         `json:"Description"`
	KeyUsage                    string         `json:"KeyUsage"`
	KeyState                    string         `json:"KeyState"`
	DeletionDate                *awsproto.Time `json:"DeletionDate,omitempty"`
	Origin                      string         `json:"Origin"`
	KeyManager                  string         `json:"KeyManager"`
	CustomerMasterKeySpec       string         `json:"CustomerMasterKeySpec"`
	KeySpec                     string         `json:"KeySpec"`
	EncryptionAlgorithms        []string       `json:"EncryptionAlgorithms,omitempty"`
	SigningAlgorithms           []string       `json:"SigningAlgorithms,omitempty"`
	MacAlgorithms               []string       `json:"MacAlgorithms,omitempty"`
	MultiRegion                 bool           `json:"MultiRegion"`
	PendingDeletionWindowInDays int            `json:"PendingDeletionWindowInDays,omitempty"`
}

func toMetadata(m *keyMeta) *keyMetadata {
	enc, sign, mac := specs[m.KeySpec].algorithms(m.KeyUsage)
	md := &keyMetadata{AWSAccountID: m.AccountID, KeyID: m.KeyID, Arn: m.ARN, CreationDate: awsproto.NewTime(m.Created),
		Enabled: m.KeyState == stateEnabled, Description: m.Description, KeyUsage: m.KeyUsage, KeyState: m.KeyState,
		Origin: "AWS_KMS", KeyManager: m.KeyManager, CustomerMasterKeySpec: m.KeySpec, KeySpec: m.KeySpec,
		EncryptionAlgorithms: enc, SigningAlgorithms: sign, MacAlgorithms: mac, PendingDeletionWindowInDays: m.PendingWindowInDays}
	if m.DeletionDate != nil {
		md.DeletionDate = awsproto.NewTime(*m.DeletionDate)
	}
	return md
}

type metadataOutput struct {
	KeyMetadata *keyMetadata `json:"KeyMetadata"`
}

type createKeyInput struct {
	Policy                         string `json:"Policy"`
	Description                    string `json:"Description"`
	KeyUsage                       string `json:"KeyUsage"`
	CustomerMasterKeySpec          string `json:"CustomerMasterKeySpec"`
	KeySpec                        string `json:"KeySpec"`
	Origin                         string `json:"Origin"`
	CustomKeyStoreID               string `json:"CustomKeyStoreId"`
	BypassPolicyLockoutSafetyCheck bool   `json:"BypassPolicyLockoutSafetyCheck"`
	Tags                           []tag  `json:"Tags"`
	MultiRegion                    bool   `json:"MultiRegion"`
}

// Validate refuses what Bulwark does not offer rather than silently
// ignoring it.
func (in *createKeyInput) Validate() error {
	switch {
	case in.Origin != "" && in.Origin != "AWS_KMS":
		return fmt.Errorf("%w: Origin %s is not supported; only AWS_KMS.", ErrUnsupported, in.Origin)
	case in.CustomKeyStoreID != "":
		return fmt.Errorf("%w: Custom key stores are not supported.", ErrUnsupported)
	case in.MultiRegion:
		return fmt.Errorf("%w: Multi-Region keys are not supported.", ErrUnsupported)
	case in.KeySpec != "" && in.CustomerMasterKeySpec != "" && in.KeySpec != in.CustomerMasterKeySpec:
		return fmt.Errorf("%w: KeySpec and CustomerMasterKeySpec differ.", ErrValidation)
	case len(in.Description) > 8192:
		return fmt.Errorf("%w: Description must be at most 8192 characters.", ErrValidation)
	}
	return nil
}

func (s *Service) apiCreateKey(ctx context.Context, c *api.Call, in *createKeyInput) (*metadataOutput, error) {
	spec := in.KeySpec
	if spec == "" {
		spec = in.CustomerMasterKeySpec
	}
	m, err := s.createKey(ctx, c, createParams{spec: spec, usage: in.KeyUsage, description: in.Description,
		policy: in.Policy, bypassLockout: in.BypassPolicyLockoutSafetyCheck, tags: in.Tags})
	if err != nil {
		return nil, err
	}
	return &metadataOutput{toMetadata(m)}, nil
}

func (s *Service) apiDescribeKey(ctx context.Context, c *api.Call, in *keyIDInput) (*metadataOutput, error) {
	lk, err := s.adminKey(ctx, c, "kms:DescribeKey", in.KeyID)
	if err != nil {
		return nil, err
	}
	return &metadataOutput{toMetadata(&lk.meta)}, nil
}

type listInput struct {
	Limit  int    `json:"Limit"`
	Marker string `json:"Marker"`
}

func (in *listInput) limit() (int, error) {
	switch {
	case in.Limit == 0:
		return 100, nil
	case in.Limit < 1 || in.Limit > 1000:
		return 0, fmt.Errorf("%w: Limit must be between 1 and 1000.", ErrValidation)
	}
	return in.Limit, nil
}

type keyListEntry struct {
	KeyID  string `json:"KeyId"`
	KeyArn string `json:"KeyArn"`
}

type listKeysOutput struct {
	Keys       []keyListEntry `json:"Keys"`
	NextMarker string         `json:"NextMarker,omitempty"`
	Truncated  bool           `json:"Truncated"`
}

func (s *Service) apiListKeys(ctx context.Context, c *api.Call, in *listInput) (*listKeysOutput, error) {
	limit, err := in.limit()
	if err != nil {
		return nil, err
	}
	ids, next, err := s.listKeys(ctx, c, limit, in.Marker)
	if err != nil {
		return nil, err
	}
	out := &listKeysOutput{Keys: []keyListEntry{}, NextMarker: next, Truncated: next != ""}
	for _, id := range ids {
		out.Keys = append(out.Keys, keyListEntry{id, s.keyARN(id)})
	}
	return out, nil
}

type updateDescriptionInput struct {
	KeyID       string `json:"KeyId" required:"true"`
	Description string `json:"Description" required:"true"`
}

func (s *Service) apiUpdateKeyDescription(ctx context.Context, c *api.Call, in *updateDescriptionInput) (*empty, error) {
	_, err := s.modify(ctx, c, "kms:UpdateKeyDescription", in.KeyID, func(m *keyMeta, _ *keySecret) error {
		if err := notPending(m); err != nil {
			return err
		}
		m.Description = in.Description
		return nil
	})
	return &empty{}, err
}

type aliasInput struct {
	AliasName   string `json:"AliasName" required:"true"`
	TargetKeyID string `json:"TargetKeyId" required:"true"`
}

func (s *Service) apiCreateAlias(ctx context.Context, c *api.Call, in *aliasInput) (*empty, error) {
	return &empty{}, s.createAlias(ctx, c, in.AliasName, in.TargetKeyID)
}

func (s *Service) apiUpdateAlias(ctx context.Context, c *api.Call, in *aliasInput) (*empty, error) {
	return &empty{}, s.updateAlias(ctx, c, in.AliasName, in.TargetKeyID)
}

type deleteAliasInput struct {
	AliasName string `json:"AliasName" required:"true"`
}

func (s *Service) apiDeleteAlias(ctx context.Context, c *api.Call, in *deleteAliasInput) (*empty, error) {
	return &empty{}, s.deleteAlias(ctx, c, in.AliasName)
}

type listAliasesInput struct {
	KeyID string `json:"KeyId"`
	listInput
}

type aliasListEntry struct {
	AliasName       string         `json:"AliasName"`
	AliasArn        string         `json:"AliasArn"`
	TargetKeyID     string         `json:"TargetKeyId,omitempty"`
	CreationDate    *awsproto.Time `json:"CreationDate,omitempty"`
	LastUpdatedDate *awsproto.Time `json:"LastUpdatedDate,omitempty"`
}

type listAliasesOutput struct {
	Aliases    []aliasListEntry `json:"Aliases"`
	NextMarker string           `json:"NextMarker,omitempty"`
	Truncated  bool             `json:"Truncated"`
}

func (s *Service) apiListAliases(ctx context.Context, c *api.Call, in *listAliasesInput) (*listAliasesOutput, error) {
	limit, err := in.limit()
	if err != nil {
		return nil, err
	}
	entries, next, err := s.listAliases(ctx, c, in.KeyID, limit, in.Marker)
	if err != nil {
		return nil, err
	}
	out := &listAliasesOutput{Aliases: []aliasListEntry{}, NextMarker: next, Truncated: next != ""}
	for _, e := range entries {
		out.Aliases = append(out.Aliases, aliasListEntry{e.name, s.aliasARN(e.name), e.TargetKeyID, awsproto.NewTime(e.Created), awsproto.NewTime(e.Updated)})
	}
	return out, nil
}

type getPublicKeyOutput struct {
	KeyID                 string   `json:"KeyId"`
	PublicKey             []byte   `json:"PublicKey"`
	CustomerMasterKeySpec string   `json:"CustomerMasterKeySpec"`
	KeySpec               string   `json:"KeySpec"`
	KeyUsage              string   `json:"KeyUsage"`
	EncryptionAlgorithms  []string `json:"EncryptionAlgorithms,omitempty"`
	SigningAlgorithms     []string `json:"SigningAlgorithms,omitempty"`
}

func (s *Service) apiGetPublicKey(ctx context.Context, c *api.Call, in *keyIDInput) (*getPublicKeyOutput, error) {
	lk, err := s.publicKey(ctx, c, in.KeyID)
	if err != nil {
		return nil, err
	}
	m := &lk.meta
	enc, sign, _ := specs[m.KeySpec].algorithms(m.KeyUsage)
	return &getPublicKeyOutput{m.ARN, lk.mat.pubDER, m.KeySpec, m.KeySpec, m.KeyUsage, enc, sign}, nil
}

type encryptInput struct {
	KeyID               string            `json:"KeyId" required:"true"`
	Plaintext           []byte            `json:"Plaintext" required:"true"`
	EncryptionContext   map[string]string `json:"EncryptionContext"`
	EncryptionAlgorithm string            `json:"EncryptionAlgorithm"`
}

// Validate checks the plaintext size AWS allows for any key; asymmetric
// keys have smaller limits, checked with the key.
func (in *encryptInput) Validate() error {
	if len(in.Plaintext) == 0 || len(in.Plaintext) > maxSymPlaintext {
		return fmt.Errorf("%w: Plaintext must be 1 to %d bytes.", ErrValidation, maxSymPlaintext)
	}
	return nil
}

type encryptOutput struct {
	CiphertextBlob      []byte `json:"CiphertextBlob"`
	KeyID               string `json:"KeyId"`
	EncryptionAlgorithm string `json:"EncryptionAlgorithm"`
}

func (s *Service) apiEncrypt(ctx context.Context, c *api.Call, in *encryptInput) (*encryptOutput, error) {
	res, err := s.encrypt(ctx, c, cryptRequest{
		Action: "kms:Encrypt", KeyID: in.KeyID, Data: in.Plaintext,
		Context: in.EncryptionContext, Algorithm: in.EncryptionAlgorithm,
	})
	if err != nil {
		return nil, err
	}
	return &encryptOutput{res.data, res.key.meta.ARN, res.algorithm}, nil
}

type decryptInput struct {
	CiphertextBlob      []byte            `json:"CiphertextBlob" required:"true"`
	EncryptionContext   map[string]string `json:"EncryptionContext"`
	KeyID               string            `json:"KeyId"`
	EncryptionAlgorithm string            `json:"EncryptionAlgorithm"`
}

type decryptOutput struct {
	KeyID               string `json:"KeyId"`
	Plaintext           []byte `json:"Plaintext"`
	EncryptionAlgorithm string `json:"EncryptionAlgorithm"`
}

func (s *Service) apiDecrypt(ctx context.Context, c *api.Call, in *decryptInput) (*decryptOutput, error) {
	res, err := s.decrypt(ctx, c, cryptRequest{
		Action: "kms:Decrypt", KeyID: in.KeyID, Data: in.CiphertextBlob,
		Context: in.EncryptionContext, Algorithm: in.EncryptionAlgorithm,
	})
	if err != nil {
		return nil, err
	}
	return &decryptOutput{res.key.meta.ARN, res.data, res.algorithm}, nil
}

type reEncryptInput struct {
	CiphertextBlob                 []byte            `json:"CiphertextBlob" required:"true"`
	SourceEncryptionContext        map[string]string `json:"SourceEncryptionContext"`
	SourceKeyID                    string            `json:"SourceKeyId"`
	DestinationKeyID               string            `json:"DestinationKeyId" required:"true"`
	DestinationEncryptionContext   map[string]string `json:"DestinationEncryptionContext"`
	SourceEncryptionAlgorithm      string            `json:"SourceEncryptionAlgorithm"`
	DestinationEncryptionAlgorithm string            `json:"DestinationEncryptionAlgorithm"`
}

type reEncryptOutput struct {
	CiphertextBlob                 []byte `json:"CiphertextBlob"`
	SourceKeyID                    string `json:"SourceKeyId"`
	KeyID                          string `json:"KeyId"`
	SourceEncryptionAlgorithm      string `json:"SourceEncryptionAlgorithm"`
	DestinationEncryptionAlgorithm string `json:"DestinationEncryptionAlgorithm"`
}

func (s *Service) apiReEncrypt(ctx context.Context, c *api.Call, in *reEncryptInput) (*reEncryptOutput, error) {
	src, err := s.decrypt(ctx, c, cryptRequest{
		Action: "kms:ReEncryptFrom", KeyID: in.SourceKeyID, Data: in.CiphertextBlob,
		Context: in.SourceEncryptionContext, Algorithm: in.SourceEncryptionAlgorithm,
	})
	if err != nil {
		return nil, err
	}
	res, err := s.encrypt(ctx, c, cryptRequest{
		Action: "kms:ReEncryptTo", KeyID: in.DestinationKeyID, Data: src.data,
		Context: in.DestinationEncryptionContext, Algorithm: in.DestinationEncryptionAlgorithm,
	})
	if err != nil {
		return nil, err
	}
	return &reEncryptOutput{res.data, src.key.meta.ARN, res.key.meta.ARN, src.algorithm, res.algorithm}, nil
}

type generateDataKeyInput struct {
	KeyID             string            `json:"KeyId" required:"true"`
	EncryptionContext map[string]string `json:"EncryptionContext"`
	NumberOfBytes     int               `json:"NumberOfBytes"`
	KeySpec           string            `json:"KeySpec"`
}

// size returns the data key length from exactly one of KeySpec and
// NumberOfBytes.
func (in *generateDataKeyInput) size() (int, error) {
	switch {
	case in.KeySpec != "" && in.NumberOfBytes != 0:
		return 0, fmt.Errorf("%w: Specify either KeySpec or NumberOfBytes, not both.", ErrValidation)
	case in.KeySpec == "AES_256":
		return 32, nil
	case in.KeySpec == "AES_128":
		return 16, nil
	case in.KeySpec != "":
		return 0, fmt.Errorf("%w: KeySpec must be AES_256 or AES_128.", ErrValidation)
	case in.NumberOfBytes < 1 || in.NumberOfBytes > maxRandomBytes:
		return 0, fmt.Errorf("%w: Specify KeySpec, or NumberOfBytes between 1 and %d.", ErrValidation, maxRandomBytes)
	}
	return in.NumberOfBytes, nil
}

type generateDataKeyOutput struct {
	CiphertextBlob []byte `json:"CiphertextBlob"`
	Plaintext      []byte `json:"Plaintext,omitempty"`
	KeyID          string `json:"KeyId"`
}

func (s *Service) generateDataKey(ctx context.Context, c *api.Call, action string, in *generateDataKeyInput, withPlaintext bool) (*generateDataKeyOutput, error) {
	n, err := in.size()
	if err != nil {
		return nil, err
	}
	pt, res, err := s.dataKey(ctx, c, action, in.KeyID, n, in.EncryptionContext, nil)
	if err != nil {
		return nil, err
	}
	out := &generateDataKeyOutput{CiphertextBlob: res.data, KeyID: res.key.meta.ARN}
	if withPlaintext {
		out.Plaintext = pt
	}
	return out, nil
}

func (s *Service) apiGenerateDataKey(ctx context.Context, c *api.Call, in *generateDataKeyInput) (*generateDataKeyOutput, error) {
	return s.generateDataKey(ctx, c, "kms:GenerateDataKey", in, true)
}

func (s *Service) apiGenerateDataKeyWithoutPlaintext(ctx context.Context, c *api.Call, in *generateDataKeyInput) (*generateDataKeyOutput, error) {
	return s.generateDataKey(ctx, c, "kms:GenerateDataKeyWithoutPlaintext", in, false)
}

type generateDataKeyPairInput struct {
	KeyID             string            `json:"KeyId" required:"true"`
	KeyPairSpec       string            `json:"KeyPairSpec" required:"true"`
	EncryptionContext map[string]string `json:"EncryptionContext"`
}

type generateDataKeyPairOutput struct {
	PrivateKeyCiphertextBlob []byte `json:"PrivateKeyCiphertextBlob"`
	PrivateKeyPlaintext      []byte `json:"PrivateKeyPlaintext,omitempty"`
	PublicKey                []byte `json:"PublicKey"`
	KeyID                    string `json:"KeyId"`
	KeyPairSpec              string `json:"KeyPairSpec"`
}

func (s *Service) generateDataKeyPair(ctx context.Context, c *api.Call, action string, in *generateDataKeyPairInput, withPlaintext bool) (*generateDataKeyPairOutput, error) {
	priv, pub, res, err := s.dataKeyPair(ctx, c, action, in.KeyID, in.KeyPairSpec, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	out := &generateDataKeyPairOutput{PrivateKeyCiphertextBlob: res.data, PublicKey: pub, KeyID: res.key.meta.ARN, KeyPairSpec: in.KeyPairSpec}
	if withPlaintext {
		out.PrivateKeyPlaintext = priv
	}
	return out, nil
}

func (s *Service) apiGenerateDataKeyPair(ctx context.Context, c *api.Call, in *generateDataKeyPairInput) (*generateDataKeyPairOutput, error) {
	return s.generateDataKeyPair(ctx, c, "kms:GenerateDataKeyPair", in, true)
}

func (s *Service) apiGenerateDataKeyPairWithoutPlaintext(ctx context.Context, c *api.Call, in *generateDataKeyPairInput) (*generateDataKeyPairOutput, error) {
	return s.generateDataKeyPair(ctx, c, "kms:GenerateDataKeyPairWithoutPlaintext", in, false)
}

type generateRandomInput struct {
	NumberOfBytes    int    `json:"NumberOfBytes"`
	CustomKeyStoreID string `json:"CustomKeyStoreId"`
}

type generateRandomOutput struct {
	Plaintext []byte `json:"Plaintext"`
}

func (s *Service) apiGenerateRandom(ctx context.Context, c *api.Call, in *generateRandomInput) (*generateRandomOutput, error) {
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "kms:GenerateRandom", Resource: "*"}); err != nil {
		return nil, err
	}
	if in.NumberOfBytes < 1 || in.NumberOfBytes > maxRandomBytes {
		return nil, fmt.Errorf("%w: NumberOfBytes must be between 1 and %d.", ErrValidation, maxRandomBytes)
	}
	if in.CustomKeyStoreID != "" {
		return nil, fmt.Errorf("%w: Custom key stores are not supported.", ErrUnsupported)
	}
	b := make([]byte, in.NumberOfBytes)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return nil, err
	}
	return &generateRandomOutput{b}, nil
}

type signInput struct {
	KeyID            string `json:"KeyId" required:"true"`
	Message          []byte `json:"Message" required:"true"`
	MessageType      string `json:"MessageType"`
	SigningAlgorithm string `json:"SigningAlgorithm" required:"true"`
}

type signOutput struct {
	KeyID            string `json:"KeyId"`
	Signature        []byte `json:"Signature"`
	SigningAlgorithm string `json:"SigningAlgorithm"`
}

func (s *Service) apiSign(ctx context.Context, c *api.Call, in *signInput) (*signOutput, error) {
	lk, sig, err := s.sign(ctx, c, in.KeyID, in.Message, in.MessageType, in.SigningAlgorithm)
	if err != nil {
		return nil, err
	}
	return &signOutput{lk.meta.ARN, sig, in.SigningAlgorithm}, nil
}

type verifyInput struct {
	KeyID            string `json:"KeyId" required:"true"`
	Message          []byte `json:"Message" required:"true"`
	MessageType      string `json:"MessageType"`
	SigningAlgorithm string `json:"SigningAlgorithm" required:"true"`
	Signature        []byte `json:"Signature" required:"true"`
}

type verifyOutput struct {
	KeyID            string `json:"KeyId"`
	SignatureValid   bool   `json:"SignatureValid"`
	SigningAlgorithm string `json:"SigningAlgorithm"`
}

func (s *Service) apiVerify(ctx context.Context, c *api.Call, in *verifyInput) (*verifyOutput, error) {
	lk, err := s.verify(ctx, c, in.KeyID, in.Message, in.MessageType, in.SigningAlgorithm, in.Signature)
	if err != nil {
		return nil, err
	}
	return &verifyOutput{lk.meta.ARN, true, in.SigningAlgorithm}, nil
}

type macInput struct {
	KeyID        string `json:"KeyId" required:"true"`
	Message      []byte `json:"Message" required:"true"`
	MacAlgorithm string `json:"MacAlgorithm" required:"true"`
}

type macOutput struct {
	Mac          []byte `json:"Mac"`
	MacAlgorithm string `json:"MacAlgorithm"`
	KeyID        string `json:"KeyId"`
}

func (s *Service) apiGenerateMac(ctx context.Context, c *api.Call, in *macInput) (*macOutput, error) {
	lk, mac, err := s.mac(ctx, c, "kms:GenerateMac", in.KeyID, in.Message, in.MacAlgorithm)
	if err != nil {
		return nil, err
	}
	return &macOutput{mac, in.MacAlgorithm, lk.meta.ARN}, nil
}

type verifyMacInput struct {
	KeyID        string `json:"KeyId" required:"true"`
	Message      []byte `json:"Message" required:"true"`
	MacAlgorithm string `json:"MacAlgorithm" required:"true"`
	Mac          []byte `json:"Mac" required:"true"`
}

type verifyMacOutput struct {
	KeyID        string `json:"KeyId"`
	MacValid     bool   `json:"MacValid"`
	MacAlgorithm string `json:"MacAlgorithm"`
}

func (s *Service) apiVerifyMac(ctx context.Context, c *api.Call, in *verifyMacInput) (*verifyMacOutput, error) {
	lk, mac, err := s.mac(ctx, c, "kms:VerifyMac", in.KeyID, in.Message, in.MacAlgorithm)
	if err != nil {
		return nil, err
	}
	if !hmacEqual(mac, in.Mac) {
		return nil, fmt.Errorf("%w: The MAC is not valid for this key, message and algorithm.", ErrInvalidMac)
	}
	return &verifyMacOutput{lk.meta.ARN, true, in.MacAlgorithm}, nil
}

func (s *Service) apiEnableKey(ctx context.Context, c *api.Call, in *keyIDInput) (*empty, error) {
	return &empty{}, s.setEnabled(ctx, c, in.KeyID, true)
}

func (s *Service) apiDisableKey(ctx context.Context, c *api.Call, in *keyIDInput) (*empty, error) {
	return &empty{}, s.setEnabled(ctx, c, in.KeyID, false)
}

type scheduleDeletionInput struct {
	KeyID               string `json:"KeyId" required:"true"`
	PendingWindowInDays int    `json:"PendingWindowInDays"`
}

type scheduleDeletionOutput struct {
	KeyID               string         `json:"KeyId"`
	DeletionDate        *awsproto.Time `json:"DeletionDate"`
	KeyState            string         `json:"KeyState"`
	PendingWindowInDays int            `json:"PendingWindowInDays"`
}

func (s *Service) apiScheduleKeyDeletion(ctx context.Context, c *api.Call, in *scheduleDeletionInput) (*scheduleDeletionOutput, error) {
	m, err := s.scheduleDeletion(ctx, c, in.KeyID, in.PendingWindowInDays)
	if err != nil {
		return nil, err
	}
	return &scheduleDeletionOutput{m.ARN, awsproto.NewTime(*m.DeletionDate), m.KeyState, m.PendingWindowInDays}, nil
}

func (s *Service) apiCancelKeyDeletion(ctx context.Context, c *api.Call, in *keyIDInput) (*keyIDOutput, error) {
	m, err := s.cancelDeletion(ctx, c, in.KeyID)
	if err != nil {
		return nil, err
	}
	return &keyIDOutput{m.ARN}, nil
}

type enableRotationInput struct {
	KeyID                string `json:"KeyId" required:"true"`
	RotationPeriodInDays int    `json:"RotationPeriodInDays"`
}

func (s *Service) apiEnableKeyRotation(ctx context.Context, c *api.Call, in *enableRotationInput) (*empty, error) {
	return &empty{}, s.setRotation(ctx, c, in.KeyID, true, in.RotationPeriodInDays)
}

func (s *Service) apiDisableKeyRotation(ctx context.Context, c *api.Call, in *keyIDInput) (*empty, error) {
	return &empty{}, s.setRotation(ctx, c, in.KeyID, false, 0)
}

type rotationStatusOutput struct {
	KeyRotationEnabled   bool           `json:"KeyRotationEnabled"`
	KeyID                string         `json:"KeyId"`
	RotationPeriodInDays int            `json:"RotationPeriodInDays,omitempty"`
	NextRotationDate     *awsproto.Time `json:"NextRotationDate,omitempty"`
}

func (s *Service) apiGetKeyRotationStatus(ctx context.Context, c *api.Call, in *keyIDInput) (*rotationStatusOutput, error) {
	lk, err := s.adminKey(ctx, c, "kms:GetKeyRotationStatus", in.KeyID)
	if err != nil {
		return nil, err
	}
	m := &lk.meta
	if m.KeySpec != specSymmetric {
		return nil, fmt.Errorf("%w: %s is not a symmetric encryption key; only those rotate.", ErrUnsupported, m.ARN)
	}
	out := &rotationStatusOutput{KeyRotationEnabled: m.RotationEnabled, KeyID: m.ARN, RotationPeriodInDays: m.RotationPeriodDays}
	if m.NextRotation != nil {
		out.NextRotationDate = awsproto.NewTime(*m.NextRotation)
	}
	return out, nil
}

func (s *Service) apiRotateKeyOnDemand(ctx context.Context, c *api.Call, in *keyIDInput) (*keyIDOutput, error) {
	m, err := s.rotateOnDemand(ctx, c, in.KeyID)
	if err != nil {
		return nil, err
	}
	return &keyIDOutput{m.ARN}, nil
}

type rotationEntry struct {
	KeyID        string         `json:"KeyId"`
	RotationDate *awsproto.Time `json:"RotationDate"`
	RotationType string         `json:"RotationType"`
}

type listRotationsOutput struct {
	Rotations []rotationEntry `json:"Rotations"`
	Truncated bool            `json:"Truncated"`
}

type listRotationsInput struct {
	KeyID string `json:"KeyId" required:"true"`
	listInput
}

func (s *Service) apiListKeyRotations(ctx context.Context, c *api.Call, in *listRotationsInput) (*listRotationsOutput, error) {
	lk, err := s.adminKey(ctx, c, "kms:ListKeyRotations", in.KeyID)
	if err != nil {
		return nil, err
	}
	out := &listRotationsOutput{Rotations: []rotationEntry{}}
	for _, r := range lk.meta.Rotations {
		out.Rotations = append(out.Rotations, rotationEntry{lk.meta.ARN, awsproto.NewTime(r.Date), r.Type})
	}
	return out, nil
}

type getKeyPolicyInput struct {
	KeyID      string `json:"KeyId" required:"true"`
	PolicyName string `json:"PolicyName"`
}

type getKeyPolicyOutput struct {
	Policy     string `json:"Policy"`
	PolicyName string `json:"PolicyName"`
}

func (s *Service) apiGetKeyPolicy(ctx context.Context, c *api.Call, in *getKeyPolicyInput) (*getKeyPolicyOutput, error) {
	if in.PolicyName != "" && in.PolicyName != "default" {
		return nil, fmt.Errorf("%w: No such policy exists: %s", ErrNotFound, in.PolicyName)
	}
	lk, err := s.adminKey(ctx, c, "kms:GetKeyPolicy", in.KeyID)
	if err != nil {
		return nil, err
	}
	return &getKeyPolicyOutput{lk.meta.Policy, "default"}, nil
}

type putKeyPolicyInput struct {
	KeyID                          string `json:"KeyId" required:"true"`
	PolicyName                     string `json:"PolicyName"`
	Policy                         string `json:"Policy" required:"true"`
	BypassPolicyLockoutSafetyCheck bool   `json:"BypassPolicyLockoutSafetyCheck"`
}

func (s *Service) apiPutKeyPolicy(ctx context.Context, c *api.Call, in *putKeyPolicyInput) (*empty, error) {
	return &empty{}, s.putPolicy(ctx, c, in.KeyID, in.PolicyName, in.Policy, in.BypassPolicyLockoutSafetyCheck)
}

type listKeyPoliciesInput struct {
	KeyID string `json:"KeyId" required:"true"`
	listInput
}

type listKeyPoliciesOutput struct {
	PolicyNames []string `json:"PolicyNames"`
	Truncated   bool     `json:"Truncated"`
}

func (s *Service) apiListKeyPolicies(ctx context.Context, c *api.Call, in *listKeyPoliciesInput) (*listKeyPoliciesOutput, error) {
	if _, err := s.adminKey(ctx, c, "kms:ListKeyPolicies", in.KeyID); err != nil {
		return nil, err
	}
	return &listKeyPoliciesOutput{PolicyNames: []string{"default"}}, nil
}

type tagResourceInput struct {
	KeyID string `json:"KeyId" required:"true"`
	Tags  []tag  `json:"Tags" required:"true"`
}

func (s *Service) apiTagResource(ctx context.Context, c *api.Call, in *tagResourceInput) (*empty, error) {
	if in.Tags == nil {
		in.Tags = []tag{}
	}
	return &empty{}, s.tagKey(ctx, c, in.KeyID, in.Tags, nil)
}

type untagResourceInput struct {
	KeyID   string   `json:"KeyId" required:"true"`
	TagKeys []string `json:"TagKeys" required:"true"`
}

func (s *Service) apiUntagResource(ctx context.Context, c *api.Call, in *untagResourceInput) (*empty, error) {
	return &empty{}, s.tagKey(ctx, c, in.KeyID, nil, in.TagKeys)
}

type listTagsOutput struct {
	Tags      []tag `json:"Tags"`
	Truncated bool  `json:"Truncated"`
}

func (s *Service) apiListResourceTags(ctx context.Context, c *api.Call, in *listKeyPoliciesInput) (*listTagsOutput, error) {
	lk, err := s.adminKey(ctx, c, "kms:ListResourceTags", in.KeyID)
	if err != nil {
		return nil, err
	}
	return &listTagsOutput{Tags: append([]tag{}, lk.meta.Tags...)}, nil
}
