package pca

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

// Short names keep api.go's tables readable.
type extKeyUsage = x509.ExtKeyUsage

const (
	x509ExtServerAuth   = x509.ExtKeyUsageServerAuth
	x509ExtClientAuth   = x509.ExtKeyUsageClientAuth
	x509ExtCodeSigning  = x509.ExtKeyUsageCodeSigning
	x509ExtEmail        = x509.ExtKeyUsageEmailProtection
	x509ExtTimeStamping = x509.ExtKeyUsageTimeStamping
	x509ExtOCSP         = x509.ExtKeyUsageOCSPSigning
)

func (k *KeyUsage) bits() x509.KeyUsage {
	var u x509.KeyUsage
	set := func(b bool, v x509.KeyUsage) {
		if b {
			u |= v
		}
	}
	set(k.DigitalSignature, x509.KeyUsageDigitalSignature)
	set(k.NonRepudiation, x509.KeyUsageContentCommitment)
	set(k.KeyEncipherment, x509.KeyUsageKeyEncipherment)
	set(k.DataEncipherment, x509.KeyUsageDataEncipherment)
	set(k.KeyAgreement, x509.KeyUsageKeyAgreement)
	set(k.KeyCertSign, x509.KeyUsageCertSign)
	set(k.CRLSign, x509.KeyUsageCRLSign)
	set(k.EncipherOnly, x509.KeyUsageEncipherOnly)
	set(k.DecipherOnly, x509.KeyUsageDecipherOnly)
	return u
}

func x509OID(s string) (x509.OID, error) {
	oid, err := x509.ParseOID(s)
	if err != nil {
		return x509.OID{}, fmt.Errorf("%w: %q is not an object identifier", ErrInvalidArgs, s)
	}
	return oid, nil
}

func pkixExtension(oid asn1.ObjectIdentifier, critical bool, value []byte) pkix.Extension {
	return pkix.Extension{Id: oid, Critical: critical, Value: value}
}
