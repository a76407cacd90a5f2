package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthrun/berth/bench/internal/benchutil"
)

// steps runs n cycles of berth-oci alone with --debug --log, and prints
// where its create spends its time: the median of each launch step and
// init stage step the executor logs at trace level, beside each verb's
// wall time. Alone: no other runtime's cgroup move runs between them.
func (b *bench) steps(o options, berthOCI, rootfs string) error {
	const id = "ocib-steps"
	bundle := filepath.Join(b.tmp, "bundle-steps")
	if err := writeBundle(o.runc, bundle, rootfs, "/"+cgroupParent+"/"+id); err != nil {
		return err
	}
	state := filepath.Join(b.tmp, "state", "steps")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	logFile := filepath.Join(b.tmp, "steps.log")
	d, err := startDriver("steps", driverConfig{
		Runtime: []string{berthOCI, "--debug", "--log", logFile, "--log-format", "json", "--root", state},
		Bundle:  bundle,
		ID:      id,
		PidFile: filepath.Join(b.tmp, "steps.pid"),
		ErrFile: filepath.Join(b.tmp, "steps.stderr"),
	})
	if err != nil {
		return fmt.Errorf("steps driver: %w", err)
	}
	b.onCleanup(func() error { d.stop(); return nil })
	fmt.Printf("\n== berth-oci alone, --debug --log: %d cycles after %d warm-up, where create's time goes (%s)\n", o.steps, o.warmup, uptime())
	var res []cycleResult
	for i := range o.warmup + o.steps {
		if i == o.warmup {
			// Only the measured cycles' lines.
			if err := os.Truncate(logFile, 0); err != nil {
				return err
			}
		}
		r, err := d.cycle()
		if err != nil {
			return fmt.Errorf("steps cycle %d: %w", i, err)
		}
		if i >= o.warmup {
			res = append(res, r)
		}
	}
	fmt.Printf("load after: %s\n", uptime())
	for _, v := range verbs {
		dd := make([]time.Duration, len(res))
		for i, r := range res {
			dd[i] = pick(r, v)
		}
		s := benchutil.Summarize(dd)
		fmt.Printf("  %-7s median %7.3fms  p95 %7.3fms\n", v, benchutil.Ms(s.Median), benchutil.Ms(s.P95))
		b.out["steps_"+v+"_median_ms"] = benchutil.Ms(s.Median)
	}
	names, took, err := readSteps(logFile)
	if err != nil {
		return err
	}
	fmt.Printf("  %-52s %9s %6s\n", "step (trace log)", "median", "runs")
	for _, n := range names {
		s := benchutil.Summarize(took[n])
		fmt.Printf("  %-52s %7.3fms %6d\n", n, benchutil.Ms(s.Median), len(took[n]))
	}
	return nil
}

// readSteps reads the executor's trace lines from a JSON --log: each
// "launch step" and "init stage step" with how long it took, by name in
// the order first seen.
func readSteps(file string) ([]string, map[string][]time.Duration, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var names []string
	took := map[string][]time.Duration{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg  string `json:"@message"`
			Step string `json:"step"`
			Took any    `json:"took"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Step == "" || !strings.HasSuffix(l.Msg, " step") {
			continue
		}
		var dur time.Duration
		switch v := l.Took.(type) {
		case float64: // hclog writes a time.Duration as nanoseconds
			dur = time.Duration(v)
		case string:
			if dur, err = time.ParseDuration(v); err != nil {
				continue
			}
		default:
			continue
		}
		name := strings.TrimSuffix(l.Msg, " step") + ": " + l.Step
		if _, ok := took[name]; !ok {
			names = append(names, name)
		}
		took[name] = append(took[name], dur)
	}
	return names, took, sc.Err()
}
