package pca_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
)

// TestZlint runs zlint over every kind of certificate the CA issues and
// fails on any error or warning.
func TestZlint(t *testing.T) {
	t.Parallel()
	_, c := newClient(t)
	h := newHierarchy(t, c)
	rootPEM, _ := caCert(t, c, h.root)
	subPEM, _ := caCert(t, c, h.sub)
	_, serverPEM, _ := issue(t, c, h.sub, types.SigningAlgorithmSha256withecdsa,
		newCSR(t, rsaKey(t), "gateway.mesh.local", "gateway.mesh.local"), "EndEntityServerAuthCertificate/V1", nil)
	_, clientPEM, _ := issue(t, c, h.sub, types.SigningAlgorithmSha256withecdsa,
		newCSR(t, ecKey(t), "colorgateway.mesh.local", "colorgateway.mesh.local"), "EndEntityClientAuthCertificate/V1", nil)
	_, defaultPEM, _ := issue(t, c, h.root, types.SigningAlgorithmSha256withrsa,
		newCSR(t, ecKey(t), "both.mesh.local", "both.mesh.local"), "", nil)
	// A blank template: subject and SAN from the CSR, usages from
	// ApiPassthrough, as a smart-card-style profile would be issued.
	_, blankPEM, _ := issue(t, c, h.sub, types.SigningAlgorithmSha256withecdsa,
		newCSR(t, ecKey(t), "card.mesh.local", "card.mesh.local"), "BlankEndEntityCertificate_APICSRPassthrough/V1",
		&types.ApiPassthrough{Extensions: &types.Extensions{
			KeyUsage:         &types.KeyUsage{DigitalSignature: true},
			ExtendedKeyUsage: []types.ExtendedKeyUsage{{ExtendedKeyUsageType: types.ExtendedKeyUsageTypeClientAuth}},
		}})
	// A passthrough template given a CSR and an ApiPassthrough asking for
	// keyCertSign, codeSigning and CA:TRUE: the template's values win.
	_, greedyPEM, _ := issue(t, c, h.sub, types.SigningAlgorithmSha256withecdsa,
		greedyCSR(t), "EndEntityClientAuthCertificate_APICSRPassthrough/V1", greedyAPI(t, true))

	registry, err := lint.GlobalRegistry().Filter(lint.FilterOptions{
		// Every exclusion is a CA/Browser Forum Baseline Requirements lint
		// for publicly trusted TLS; none applies to a private mesh PKI.
		// All RFC 5280 / RFC 5480 / RFC 8813 and community lints run.
		ExcludeNames: []string{
			// The BR policy OIDs assert public-trust compliance, which a
			// private CA must not claim; AWS Private CA's templates also
			// issue without certificatePolicies.
			"e_sub_ca_certificate_policies_missing",
			"e_invalid_ca_certificate_policies",
			"e_sub_cert_certificate_policies_missing",
			"e_sub_cert_cert_policy_empty",
			// The hierarchy answers OCSP, so the AIA with its OCSP URL is
			// there and checked; the BR's caIssuers URL is not: Bulwark
			// hands out chains through the API, as AWS Private CA does.
			"w_sub_cert_aia_does_not_contain_issuing_ca_url",
			// Mesh names (*.mesh.local) and the server's own address in
			// the OCSP URL are private by design.
			"e_dnsname_not_valid_tld",
			"w_sub_cert_aia_contains_internal_names",
			// BR 2.0 discourages SKI and CN in subscriber certificates;
			// RFC 5280 recommends the SKI, and Envoy/ACM users match on
			// the CN, which AWS Private CA also keeps.
			"w_ext_subject_key_identifier_not_recommended_subscriber",
			"w_subject_common_name_included",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, pem string }{
		{"root", rootPEM}, {"subordinate", subPEM}, {"server leaf", serverPEM}, {"client leaf", clientPEM}, {"default leaf", defaultPEM},
		{"blank leaf", blankPEM}, {"greedy passthrough leaf", greedyPEM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert := parseCert(t, tc.pem)
			zc, err := zx509.ParseCertificate(cert.Raw)
			if err != nil {
				t.Fatal(err)
			}
			res := zlint.LintCertificateEx(zc, registry)
			for name, r := range res.Results {
				if r.Status == lint.Error || r.Status == lint.Warn || r.Status == lint.Fatal {
					t.Errorf("%s: %s %s", name, r.Status, r.Details)
				}
			}
		})
	}
}
