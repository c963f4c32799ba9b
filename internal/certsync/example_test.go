package certsync_test

import (
	"fmt"

	"github.com/bulwarkd/bulwark/internal/certsync"
)

// The proxy of the ColorGateway service reads its own four secrets and
// nothing else (docs/lifecycle.md prints the same policy).
func ExampleFetchPolicy() {
	fmt.Println(certsync.FetchPolicy("aws", "us-east-1", "111122223333", "colorgateway"))
	// Output:
	// {
	//   "Version": "2012-10-17",
	//   "Statement": [
	//     {
	//       "Sid": "ReadOwnCertificate",
	//       "Effect": "Allow",
	//       "Action": [
	//         "secretsmanager:GetSecretValue"
	//       ],
	//       "Resource": [
	//         "arn:aws:secretsmanager:us-east-1:111122223333:secret:colorgateway/*"
	//       ]
	//     }
	//   ]
	// }
}

// The renewer of the ColorGateway certificate renews, exports and writes,
// but never reads a secret value.
func ExampleExportPolicy() {
	fmt.Println(certsync.ExportPolicy("aws", "us-east-1", "111122223333",
		[]string{"arn:aws:acm:us-east-1:111122223333:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
		[]string{"colorgateway"}))
	// Output:
	// {
	//   "Version": "2012-10-17",
	//   "Statement": [
	//     {
	//       "Sid": "RenewAndExportBoundCertificates",
	//       "Effect": "Allow",
	//       "Action": [
	//         "acm:DescribeCertificate",
	//         "acm:ExportCertificate",
	//         "acm:RenewCertificate"
	//       ],
	//       "Resource": [
	//         "arn:aws:acm:us-east-1:111122223333:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	//       ]
	//     },
	//     {
	//       "Sid": "DrawPassphrases",
	//       "Effect": "Allow",
	//       "Action": [
	//         "secretsmanager:GetRandomPassword"
	//       ],
	//       "Resource": [
	//         "*"
	//       ]
	//     },
	//     {
	//       "Sid": "WriteCertificateSecrets",
	//       "Effect": "Allow",
	//       "Action": [
	//         "secretsmanager:CreateSecret",
	//         "secretsmanager:PutSecretValue",
	//         "secretsmanager:DescribeSecret",
	//         "secretsmanager:TagResource"
	//       ],
	//       "Resource": [
	//         "arn:aws:secretsmanager:us-east-1:111122223333:secret:colorgateway/*"
	//       ]
	//     },
	//     {
	//       "Sid": "NeverReadSecretValues",
	//       "Effect": "Deny",
	//       "Action": [
	//         "secretsmanager:GetSecretValue",
	//         "secretsmanager:BatchGetSecretValue"
	//       ],
	//       "Resource": [
	//         "*"
	//       ]
	//     }
	//   ]
	// }
}
