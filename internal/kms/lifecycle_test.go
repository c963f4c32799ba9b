package kms_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

const day = 24 * time.Hour

func TestEnableDisable(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := context.Background()
	id := createKey(t, c, "", "")
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	d, _ := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id})
	if d.KeyMetadata.KeyState != types.KeyStateDisabled || d.KeyMetadata.Enabled {
		t.Errorf("state after DisableKey = %s", d.KeyMetadata.KeyState)
	}
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
	wantCode(t, err, "DisabledException")
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "DisabledException")
	if _, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatal(err)
	}
}

func TestScheduledDeletion(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	ctx := context.Background()
	id := createKey(t, c, "", "")
	keep := createKey(t, c, "", "")
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/doomed"), TargetKeyId: &id}); err != nil {
		t.Fatal(err)
	}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	for _, days := range []int32{6, 31} {
		_, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(days)})
		wantCode(t, err, "ValidationException")
	}
	sd, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)})
	if err != nil {
		t.Fatal(err)
	}
	if sd.KeyState != types.KeyStatePendingDeletion || aws.ToInt32(sd.PendingWindowInDays) != 7 ||
		sd.DeletionDate.Sub(srv.Clock.Now()) < 7*day-time.Minute || sd.DeletionDate.Sub(srv.Clock.Now()) > 7*day+time.Minute {
		t.Errorf("ScheduleKeyDeletion = %+v", sd)
	}
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &id})
	wantCode(t, err, "KMSInvalidStateException")

	// Cancel leaves the key disabled, as AWS does.
	if _, err := c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	d, _ := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id})
	if d.KeyMetadata.KeyState != types.KeyStateDisabled || d.KeyMetadata.DeletionDate != nil {
		t.Errorf("after cancel: %+v", d.KeyMetadata)
	}
	_, err = c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: &id})
	wantCode(t, err, "KMSInvalidStateException")

	if _, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	srv.Clock.Advance(6 * day)
	if d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id}); err != nil || d.KeyMetadata.KeyState != types.KeyStatePendingDeletion {
		t.Fatalf("one day before the window ends: %v, %v", d, err)
	}
	srv.Clock.Advance(day + time.Minute)
	// ListKeys first: the purge must not depend on the key being named.
	lk, err := c.ListKeys(ctx, &kms.ListKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range lk.Keys {
		ids = append(ids, aws.ToString(k.KeyId))
	}
	if !slices.Equal(ids, []string{keep}) {
		t.Errorf("ListKeys after deletion = %v, want only %s", ids, keep)
	}
	_, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id})
	wantCode(t, err, "NotFoundException")
	_, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/doomed")})
	wantCode(t, err, "NotFoundException")
	la, _ := c.ListAliases(ctx, &kms.ListAliasesInput{})
	if len(la.Aliases) != 0 {
		t.Errorf("aliases of the deleted key remain: %+v", la.Aliases)
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "NotFoundException")
}

func TestRotation(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	ctx := context.Background()
	id := createKey(t, c, "", "")
	encCtx := map[string]string{"k": "v"}
	var blobs [][]byte
	encrypt := func() {
		t.Helper()
		out, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("p"), EncryptionContext: encCtx})
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, out.CiphertextBlob)
	}
	checkAll := func(stage string) {
		t.Helper()
		for i, b := range blobs {
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: b, EncryptionContext: encCtx})
			if err != nil || !bytes.Equal(dec.Plaintext, []byte("p")) {
				t.Errorf("%s: ciphertext %d no longer decrypts: %v", stage, i, err)
			}
		}
	}
	encrypt()
	st, err := c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	if err != nil || st.KeyRotationEnabled {
		t.Fatalf("initial rotation status = %+v, %v", st, err)
	}
	if _, err := c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	encrypt()
	checkAll("after on-demand rotation")
	_, err = c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id, RotationPeriodInDays: aws.Int32(89)})
	wantCode(t, err, "ValidationException")
	if _, err := c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id, RotationPeriodInDays: aws.Int32(90)}); err != nil {
		t.Fatal(err)
	}
	st, err = c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	if err != nil || !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 90 || st.NextRotationDate == nil {
		t.Fatalf("rotation status = %+v, %v", st, err)
	}
	srv.Clock.Advance(91 * day)
	encrypt() // rotates lazily on access
	checkAll("after automatic rotation")
	lr, err := c.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: &id})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []types.RotationType
	for _, r := range lr.Rotations {
		kinds = append(kinds, r.RotationType)
	}
	if !slices.Equal(kinds, []types.RotationType{"ON_DEMAND", "AUTOMATIC"}) {
		t.Errorf("rotations = %v", kinds)
	}
	if bytes.Equal(blobs[0][:44], blobs[2][:44]) {
		t.Error("the blob header does not change with the material version")
	}
	if _, err := c.DisableKeyRotation(ctx, &kms.DisableKeyRotationInput{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	st, _ = c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	if st.KeyRotationEnabled {
		t.Error("rotation still enabled")
	}
	rsaKey := createKey(t, c, "RSA_2048", "ENCRYPT_DECRYPT")
	_, err = c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &rsaKey})
	wantCode(t, err, "UnsupportedOperationException")
	_, err = c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &rsaKey})
	wantCode(t, err, "UnsupportedOperationException")
}
