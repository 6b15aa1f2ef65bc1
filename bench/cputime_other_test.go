//go:build !unix

package bench

import "time"

// cpuTime is not measured here; -1 leaves the cpu-ns/op metric out.
func cpuTime() time.Duration { return -1 }
