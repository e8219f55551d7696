//go:build ephemera_testkdf

package main

// Built with -tags ephemera_testkdf (only by this package's tests, for the
// child processes whose memory they measure), the binary honours
// EPHEMERA_INSECURE_TEST_KDF. Release builds never set the tag.
func init() { allowInsecureKDF = true }
