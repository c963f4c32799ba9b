// Drives Bulwark with the AWS SDK for JavaScript v3 and the AWS Encryption
// SDK for JavaScript, configured only the way their documentation says:
// AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY in
// the environment, no endpoint in code. Run by e2e/js_test.go; exits
// non-zero (with the failing step) on any mismatch.
import assert from "node:assert/strict";
import { KMSClient, CreateKeyCommand, EncryptCommand, DecryptCommand, DescribeKeyCommand } from "@aws-sdk/client-kms";
import { SecretsManagerClient, CreateSecretCommand, GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import {
  ACMPCAClient, CreateCertificateAuthorityCommand, DescribeCertificateAuthorityCommand, ListCertificateAuthoritiesCommand,
} from "@aws-sdk/client-acm-pca";
import { ACMClient, ListCertificatesCommand } from "@aws-sdk/client-acm";
import { AppMeshClient, CreateMeshCommand, DescribeMeshCommand } from "@aws-sdk/client-app-mesh";
import { KmsKeyringNode, buildClient, CommitmentPolicy } from "@aws-crypto/client-node";

const step = async (name, fn) => {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    console.error(`FAIL ${name}: ${e?.name ?? ""} ${e?.message ?? e}`);
    process.exit(1);
  }
};

assert.ok(process.env.AWS_ENDPOINT_URL, "AWS_ENDPOINT_URL must point at Bulwark");
const kms = new KMSClient({});
let keyArn;

await step("kms", async () => {
  const key = await kms.send(new CreateKeyCommand({ Description: "js e2e" }));
  keyArn = key.KeyMetadata.Arn;
  const ctx = { purpose: "js-e2e" };
  const enc = await kms.send(new EncryptCommand({ KeyId: keyArn, Plaintext: Buffer.from("hello"), EncryptionContext: ctx }));
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx }));
  assert.equal(Buffer.from(dec.Plaintext).toString(), "hello");
  await assert.rejects(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { purpose: "other" } })),
    (e) => e.name === "InvalidCiphertextException");
  const d = await kms.send(new DescribeKeyCommand({ KeyId: keyArn }));
  assert.equal(d.KeyMetadata.KeyState, "Enabled");
});

await step("secretsmanager", async () => {
  const sm = new SecretsManagerClient({});
  await sm.send(new CreateSecretCommand({ Name: "js/e2e", SecretString: "s3cret" }));
  const got = await sm.send(new GetSecretValueCommand({ SecretId: "js/e2e" }));
  assert.equal(got.SecretString, "s3cret");
});

await step("acm-pca", async () => {
  const pca = new ACMPCAClient({});
  const ca = await pca.send(new CreateCertificateAuthorityCommand({
    CertificateAuthorityType: "ROOT",
    CertificateAuthorityConfiguration: { KeyAlgorithm: "EC_prime256v1", SigningAlgorithm: "SHA256WITHECDSA", Subject: { CommonName: "JS Root" } },
  }));
  const d = await pca.send(new DescribeCertificateAuthorityCommand({ CertificateAuthorityArn: ca.CertificateAuthorityArn }));
  assert.equal(d.CertificateAuthority.Status, "PENDING_CERTIFICATE");
  const l = await pca.send(new ListCertificateAuthoritiesCommand({}));
  assert.ok(l.CertificateAuthorities.some((c) => c.Arn === ca.CertificateAuthorityArn));
});

await step("acm", async () => {
  const acm = new ACMClient({});
  const l = await acm.send(new ListCertificatesCommand({}));
  assert.ok(Array.isArray(l.CertificateSummaryList));
});

await step("appmesh", async () => {
  const am = new AppMeshClient({});
  await am.send(new CreateMeshCommand({ meshName: "js-mesh", spec: { egressFilter: { type: "DROP_ALL" } } }));
  const d = await am.send(new DescribeMeshCommand({ meshName: "js-mesh" }));
  assert.equal(d.mesh.status.status, "ACTIVE");
  assert.equal(d.mesh.spec.egressFilter.type, "DROP_ALL");
});

await step("encryption-sdk kms keyring", async () => {
  const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const keyring = new KmsKeyringNode({ generatorKeyId: keyArn });
  const context = { tenant: "bulwark", stage: "e2e" };
  const { result } = await encrypt(keyring, "field-level secret", { encryptionContext: context });
  const { plaintext, messageHeader } = await decrypt(keyring, result);
  assert.equal(plaintext.toString(), "field-level secret");
  for (const [k, v] of Object.entries(context)) assert.equal(messageHeader.encryptionContext[k], v);
});
