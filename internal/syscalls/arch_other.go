//go:build !amd64

package syscalls

var table = map[string]int{}
