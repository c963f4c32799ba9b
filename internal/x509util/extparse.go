package x509util

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
)

// ParseKeyUsage decodes a keyUsage extension value (RFC 5280 4.2.1.3), as
// a CSR or an ApiPassthrough custom extension carries it. It refuses
// trailing data, an empty bit string and bits past decipherOnly.
func ParseKeyUsage(der []byte) (x509.KeyUsage, error) {
	var bits asn1.BitString
	rest, err := asn1.Unmarshal(der, &bits)
	if err != nil || len(rest) > 0 {
		return 0, errors.New("key usage is not a DER BIT STRING")
	}
	var u x509.KeyUsage
	for i := 0; i < bits.BitLength; i++ {
		if bits.At(i) == 0 {
			continue
		}
		if i > 8 {
			return 0, errors.New("key usage sets a bit past decipherOnly")
		}
		u |= 1 << uint(i)
	}
	if u == 0 {
		return 0, errors.New("key usage names no usage")
	}
	return u, nil
}

// ekuOIDs are the extended key usages crypto/x509 has names for.
var ekuOIDs = []struct {
	oid asn1.ObjectIdentifier
	eku x509.ExtKeyUsage
}{
	{asn1.ObjectIdentifier{2, 5, 29, 37, 0}, x509.ExtKeyUsageAny},
	{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}, x509.ExtKeyUsageServerAuth},
	{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}, x509.ExtKeyUsageClientAuth},
	{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3}, x509.ExtKeyUsageCodeSigning},
	{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 4}, x509.ExtKeyUsageEmailProtection},
	{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 5}, x509.ExtKeyUsageIPSECEndSystem},
	{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 6}, x509.ExtKeyUsageIPSECTunnel},
	{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 7}, x509.ExtKeyUsageIPSECUser},
	{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}, x509.ExtKeyUsageTimeStamping},
	{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 9}, x509.ExtKeyUsageOCSPSigning},
}

// ParseExtKeyUsage decodes an extKeyUsage extension value (RFC 5280
// 4.2.1.12) into the usages crypto/x509 names and the other OIDs. It
// refuses trailing data and an empty sequence.
func ParseExtKeyUsage(der []byte) ([]x509.ExtKeyUsage, []asn1.ObjectIdentifier, error) {
	var oids []asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(der, &oids)
	if err != nil || len(rest) > 0 {
		return nil, nil, errors.New("extended key usage is not a DER SEQUENCE OF OBJECT IDENTIFIER")
	}
	if len(oids) == 0 {
		return nil, nil, errors.New("extended key usage names no usage")
	}
	var known []x509.ExtKeyUsage
	var unknown []asn1.ObjectIdentifier
next:
	for _, o := range oids {
		for _, k := range ekuOIDs {
			if o.Equal(k.oid) {
				known = append(known, k.eku)
				continue next
			}
		}
		unknown = append(unknown, o)
	}
	return known, unknown, nil
}
