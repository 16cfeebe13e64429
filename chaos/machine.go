package chaos

import (
	"c1m/procfs"
	"c1m/provenance"
	"c1m/schema"
)

// machine is the machine and the code a run measures, calibrated before
// any load; a calibration that fails is reported through logf and the run
// goes on without it.
func machine(fs procfs.FS, logf func(string, ...any)) schema.Env {
	env := provenance.Machine(fs)
	if err := provenance.Calibrate(&env); err != nil {
		logf("%v", err)
	}
	return env
}
