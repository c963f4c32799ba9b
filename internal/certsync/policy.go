package certsync

import (
	"encoding/json"
	"fmt"
)

// SecretARNPattern is the resource pattern of every secret under prefix.
// Secret ARNs end in -XXXXXX after the name, so "prefix/*" covers the
// four parts and nothing outside the prefix.
func SecretARNPattern(partition, region, account, prefix string) string {
	return fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%s/*", partition, region, account, prefix)
}

// FetchPolicy is the least-privilege identity policy of a proxy that
// fetches (and watches) the secrets of prefix: GetSecretValue on them and
// nothing else. With a customer-managed KMS key on the secrets, add
// kms:Decrypt on that key.
func FetchPolicy(partition, region, account, prefix string) string {
	return policyJSON([]statement{{
		Sid: "ReadOwnCertificate", Effect: "Allow", Action: []string{"secretsmanager:GetSecretValue"},
		Resource: []string{SecretARNPattern(partition, region, account, prefix)},
	}})
}

// ExportPolicy is the least-privilege identity policy of an exporter or
// renewer for the given certificates and prefixes: renew, describe and
// export those certificates; draw passphrases; create secrets and add
// versions under the prefixes and read their metadata — but never read a
// secret value. With a customer-managed KMS key, add kms:GenerateDataKey
// on it.
func ExportPolicy(partition, region, account string, certificateARNs, prefixes []string) string {
	var secrets []string
	for _, p := range prefixes {
		secrets = append(secrets, SecretARNPattern(partition, region, account, p))
	}
	return policyJSON([]statement{
		{Sid: "RenewAndExportBoundCertificates", Effect: "Allow",
			Action:   []string{"acm:DescribeCertificate", "acm:ExportCertificate", "acm:RenewCertificate"},
			Resource: certificateARNs},
		{Sid: "DrawPassphrases", Effect: "Allow", Action: []string{"secretsmanager:GetRandomPassword"}, Resource: []string{"*"}},
		{Sid: "WriteCertificateSecrets", Effect: "Allow",
			Action: []string{"secretsmanager:CreateSecret", "secretsmanager:PutSecretValue",
				"secretsmanager:DescribeSecret", "secretsmanager:TagResource"},
			Resource: secrets},
		{Sid: "NeverReadSecretValues", Effect: "Deny", Action: []string{"secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"}, Resource: []string{"*"}},
	})
}

type statement struct {
	Sid      string
	Effect   string
	Action   []string
	Resource []string
}

func policyJSON(st []statement) string {
	b, _ := json.MarshalIndent(struct {
		Version   string
		Statement []statement
	}{"2012-10-17", st}, "", "  ")
	return string(b)
}
