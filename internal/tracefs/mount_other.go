//go:build !linux

package tracefs

import "errors"

func mountTracefs(string) error {
	return errors.New("mounting tracefs is only supported on Linux")
}
