// Package archtest holds tests about the shape of the code base itself:
// which packages may import which.
package archtest
