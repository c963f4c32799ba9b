"""Drives Bulwark with boto3, configured only the way boto3 documents:
AWS_ENDPOINT_URL, AWS_REGION / AWS_DEFAULT_REGION and the credentials in
the environment, no endpoint_url in code. Run by e2e/clients_test.go;
exits non-zero (with the failing step) on any mismatch."""
import os
import sys

import boto3


def step(name, fn):
    try:
        fn()
    except Exception as e:  # report which step, then fail
        print(f"FAIL {name}: {type(e).__name__} {e}", file=sys.stderr)
        sys.exit(1)
    print(f"ok {name}")


assert os.environ.get("AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL must point at Bulwark"
state = {}


def kms():
    c = boto3.client("kms")
    key = c.create_key(Description="boto3 e2e")["KeyMetadata"]["Arn"]
    ctx = {"purpose": "boto3-e2e"}
    blob = c.encrypt(KeyId=key, Plaintext=b"hello", EncryptionContext=ctx)["CiphertextBlob"]
    assert c.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == b"hello"
    try:
        c.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "other"})
    except c.exceptions.InvalidCiphertextException:
        pass
    else:
        raise AssertionError("decrypt with another encryption context succeeded")
    state["key"] = key


def secrets():
    c = boto3.client("secretsmanager")
    c.create_secret(Name="py/e2e", SecretString="s3cret")
    assert c.get_secret_value(SecretId="py/e2e")["SecretString"] == "s3cret"
    try:
        c.get_secret_value(SecretId="py/missing")
    except c.exceptions.ResourceNotFoundException:
        pass
    else:
        raise AssertionError("a missing secret was found")


def pca():
    c = boto3.client("acm-pca")
    arn = c.create_certificate_authority(
        CertificateAuthorityType="ROOT",
        CertificateAuthorityConfiguration={"KeyAlgorithm": "EC_prime256v1", "SigningAlgorithm": "SHA256WITHECDSA",
                                           "Subject": {"CommonName": "boto3 Root"}},
    )["CertificateAuthorityArn"]
    d = c.describe_certificate_authority(CertificateAuthorityArn=arn)["CertificateAuthority"]
    assert d["Status"] == "PENDING_CERTIFICATE", d["Status"]
    csr = c.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    assert csr.startswith("-----BEGIN CERTIFICATE REQUEST-----"), csr[:40]


def acm():
    c = boto3.client("acm")
    assert isinstance(c.list_certificates()["CertificateSummaryList"], list)


def appmesh():
    c = boto3.client("appmesh")
    c.create_mesh(meshName="py-mesh", spec={"egressFilter": {"type": "ALLOW_ALL"}})
    m = c.describe_mesh(meshName="py-mesh")["mesh"]
    assert m["status"]["status"] == "ACTIVE" and m["spec"]["egressFilter"]["type"] == "ALLOW_ALL", m
    try:
        c.describe_mesh(meshName="py-missing")
    except c.exceptions.NotFoundException:
        pass
    else:
        raise AssertionError("a missing mesh was found")


def sts():
    who = boto3.client("sts").get_caller_identity()
    assert who["Arn"].endswith(":root"), who


for name, fn in [("sts", sts), ("kms", kms), ("secretsmanager", secrets), ("acm-pca", pca), ("acm", acm), ("appmesh", appmesh)]:
    step(name, fn)
