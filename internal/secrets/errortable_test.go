package secrets

import (
	"testing"

	"github.com/bulwarkd/bulwark/internal/awsproto/modelcheck"
)

// TestErrorTableMatchesModel checks every domain error's wire code (and
// status, where the model names one) against the botocore model of secretsmanager.
func TestErrorTableMatchesModel(t *testing.T) {
	modelcheck.Check(t, "secretsmanager", errorTable)
}
