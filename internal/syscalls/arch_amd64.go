package syscalls

var table = amd64
