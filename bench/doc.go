// Package bench compares what kmsretry adds to a KMS request with a bare
// http.Transport, hashicorp/go-retryablehttp and failsafe-go's failsafehttp.
// It holds only benchmarks; it is a module of its own so that the core
// module never depends on the libraries it is compared with. The results
// and the commands that produce them are in BENCHMARKS.md at the root of the
// repository.
package bench
