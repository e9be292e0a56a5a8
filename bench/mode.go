package main

import (
	"os"
	"time"
)

// Mode is how much work each case does.
type Mode struct {
	Quick        bool          `json:"quick"`
	CI           bool          `json:"ci"` // every case must run and pass
	Runs         int           `json:"runs"`
	NativeBytes  int64         `json:"native_bytes"`  // per throughput run, native cases
	BrowserBytes int64         `json:"browser_bytes"` // per throughput run, browser cases
	HeapBytes    int64         `json:"heap_bytes"`    // bytes through the page before its JS heap is read
	RTTRounds    int           `json:"rtt_rounds"`
	PageLoads    int           `json:"page_loads"`              // fresh page loads up to a connected session
	IdleStreams  int           `json:"idle_streams"`            // open on the tunnelkit relay
	IdleWsockify int           `json:"idle_streams_websockify"` // websockify forks a process per stream: fewer
	RunTimeout   time.Duration `json:"-"`                       // one throughput or RTT run
	Budget       time.Duration `json:"-"`                       // the whole bench
	Profile      bool          `json:"profile"`                 // CPU and alloc profiles of relay and native client
}

func modeFromEnv() Mode {
	m := Mode{
		Runs:         3,
		NativeBytes:  1 << 30,
		BrowserBytes: 256 << 20,
		HeapBytes:    1 << 30,
		RTTRounds:    2000,
		PageLoads:    5,
		IdleStreams:  10000,
		IdleWsockify: 300,
		RunTimeout:   90 * time.Second,
		Budget:       11*time.Minute + 30*time.Second,
	}
	if os.Getenv("BENCH_QUICK") != "" && os.Getenv("BENCH_QUICK") != "0" {
		m = Mode{
			Quick:        true,
			Runs:         1,
			NativeBytes:  16 << 20,
			BrowserBytes: 16 << 20,
			HeapBytes:    32 << 20,
			RTTRounds:    100,
			PageLoads:    1,
			IdleStreams:  200,
			IdleWsockify: 20,
			RunTimeout:   20 * time.Second,
			Budget:       100 * time.Second,
		}
	}
	m.CI = os.Getenv("CI") == "true"
	m.Profile = os.Getenv("BENCH_PROFILE") != "" && os.Getenv("BENCH_PROFILE") != "0"
	return m
}
