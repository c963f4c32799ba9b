// Package detect finds sensitive values in unstructured text without
// regular expressions: payment card numbers (Luhn-checked), US social
// security numbers (with the SSA's never-issued ranges excluded), e-mail
// addresses and phone numbers. It reports byte spans; the caller decides
// what to do with them (fle encrypts them in place).
//
// The detectors are deliberately conservative: a value is reported only
// when it stands alone (not glued to letters or digits) and passes its
// checks, because a false positive rewrites data the application needed.
package detect
