package awssource

// Passphrase exposes the export passphrase generator to tests.
var Passphrase = passphrase
