// Command porcupine-time times Porcupine's linearizability search (CheckEvents) on the
// histories faultline's checker is compared with, parsing excluded: each file is parsed
// once into Porcupine events, then the search alone runs N times and the fastest run is
// printed. Written for faultline's benchmarks (checker/BENCHMARKS.md); the models follow
// the meanings faultline's README states for these files.
//
// Usage: porcupine-time [-n N] FILE...   (etcd_*.log, kv c*-{ok,bad}.txt, faultline JSONL)
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"
)

// ---- one register with compare-and-set (Jepsen etcd logs, Porcupine's reading) ----

const nilValue = -1 << 40

type regInput struct {
	key  string
	op   byte // 'r', 'w', 'c'
	a, b int
}

type regOutput struct {
	ok      bool // cas outcome
	value   int  // read result (nilValue for nil)
	unknown bool // info: may or may not have happened
}

var registerModel = porcupine.Model{
	PartitionEvent: partitionByKey(func(v interface{}) string { return v.(regInput).key }),
	Init:           func() interface{} { return nilValue },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st, in, out := state.(int), input.(regInput), output.(regOutput)
		switch in.op {
		case 'r':
			return out.unknown || out.value == st, st
		case 'w':
			return true, in.a
		default:
			if in.a == st {
				return out.ok || out.unknown, in.b
			}
			return !out.ok || out.unknown, st
		}
	},
	Hash: func(state interface{}) uint64 { return uint64(state.(int)) },
}

var etcdLine = regexp.MustCompile(`^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\w+)\s+:(\w+)\s+(.*?)\s*$`)

func parseEtcd(path string) ([]porcupine.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var events []porcupine.Event
	pending := map[int]int{} // process -> event id of its open call
	id := 0
	var infos []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := etcdLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		proc, _ := strconv.Atoi(m[1])
		kind, fn, arg := m[2], m[3], m[4]
		switch kind {
		case "invoke":
			in := regInput{op: fn[0]}
			switch fn {
			case "write":
				in.a, _ = strconv.Atoi(arg)
			case "cas":
				parts := strings.Fields(strings.Trim(arg, "[]"))
				in.a, _ = strconv.Atoi(parts[0])
				in.b, _ = strconv.Atoi(parts[1])
			}
			events = append(events, porcupine.Event{ClientId: proc, Kind: porcupine.CallEvent, Value: in, Id: id})
			pending[proc] = id
			id++
		case "ok", "fail":
			out := regOutput{ok: kind == "ok", value: nilValue}
			if fn == "read" && arg != "nil" {
				out.value, _ = strconv.Atoi(arg)
			}
			events = append(events, porcupine.Event{ClientId: proc, Kind: porcupine.ReturnEvent, Value: out, Id: pending[proc]})
			delete(pending, proc)
		case "info":
			infos = append(infos, pending[proc])
			delete(pending, proc)
		}
	}
	for _, i := range infos { // an info op may take effect at any later time
		events = append(events, porcupine.Event{Kind: porcupine.ReturnEvent, Value: regOutput{unknown: true}, Id: i})
	}
	for _, i := range pending {
		events = append(events, porcupine.Event{Kind: porcupine.ReturnEvent, Value: regOutput{unknown: true}, Id: i})
	}
	return events, sc.Err()
}

// ---- key-value store with get/put/append on strings (Porcupine's kv files) ----

type kvInput struct {
	key, value string
	op         byte // 'g', 'p', 'a'
}

var kvModel = porcupine.Model{
	PartitionEvent: partitionByKey(func(v interface{}) string { return v.(kvInput).key }),
	Init:           func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st, in := state.(string), input.(kvInput)
		switch in.op {
		case 'g':
			return output.(string) == st, st
		case 'p':
			return true, in.value
		default:
			return true, st + in.value
		}
	},
	// Without a state hash Porcupine compares every state that shares a linearized set
	// (c50-ok then takes ten times longer); its own kv test gives one too.
	Hash: func(state interface{}) uint64 {
		h := fnv.New64a()
		h.Write([]byte(state.(string)))
		return h.Sum64()
	},
}

var kvLine = regexp.MustCompile(`^\{:process (\d+), :type :(\w+), :f :(\w+), :key "(.*?)", :value (nil|"(.*)")\}$`)

func parseKv(path string) ([]porcupine.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var events []porcupine.Event
	pending := map[int]int{}
	id := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := kvLine.FindStringSubmatch(sc.Text())
		if m == nil {
			if strings.TrimSpace(sc.Text()) != "" {
				return nil, fmt.Errorf("%s: line not understood: %q", path, sc.Text())
			}
			continue
		}
		proc, _ := strconv.Atoi(m[1])
		if m[2] == "invoke" {
			events = append(events, porcupine.Event{ClientId: proc, Kind: porcupine.CallEvent,
				Value: kvInput{key: m[4], value: m[6], op: m[3][0]}, Id: id})
			pending[proc] = id
			id++
		} else {
			events = append(events, porcupine.Event{ClientId: proc, Kind: porcupine.ReturnEvent, Value: m[6], Id: pending[proc]})
			delete(pending, proc)
		}
	}
	return events, sc.Err()
}

// ---- faultline JSONL register histories (checker/examples/gen_history) ----

type jsonOp struct {
	Process json.RawMessage `json:"process"`
	Type    string          `json:"type"`
	F       string          `json:"f"`
	Key     json.RawMessage `json:"key"`
	Value   *int            `json:"value"`
}

func parseJsonl(path string) ([]porcupine.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var events []porcupine.Event
	var infos []int
	pending := map[string]int{}
	id := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var op jsonOp
		if err := json.Unmarshal(sc.Bytes(), &op); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		proc := string(op.Process)
		switch op.Type {
		case "invoke":
			in := regInput{key: string(op.Key), op: op.F[0]}
			if op.F == "write" && op.Value != nil {
				in.a = *op.Value
			}
			events = append(events, porcupine.Event{Kind: porcupine.CallEvent, Value: in, Id: id})
			pending[proc] = id
			id++
		case "ok", "fail":
			if op.Type == "fail" {
				return nil, fmt.Errorf("%s: fail ops not supported by this harness", path)
			}
			out := regOutput{value: nilValue}
			if op.Value != nil {
				out.value = *op.Value
			}
			events = append(events, porcupine.Event{Kind: porcupine.ReturnEvent, Value: out, Id: pending[proc]})
			delete(pending, proc)
		case "info":
			infos = append(infos, pending[proc])
			delete(pending, proc)
		}
	}
	for _, i := range infos {
		events = append(events, porcupine.Event{Kind: porcupine.ReturnEvent, Value: regOutput{unknown: true}, Id: i})
	}
	for _, i := range pending {
		events = append(events, porcupine.Event{Kind: porcupine.ReturnEvent, Value: regOutput{unknown: true}, Id: i})
	}
	return events, sc.Err()
}

func partitionByKey(key func(interface{}) string) func([]porcupine.Event) [][]porcupine.Event {
	return func(history []porcupine.Event) [][]porcupine.Event {
		callKey := map[int]string{}
		byKey := map[string][]porcupine.Event{}
		var order []string
		for _, e := range history {
			var k string
			if e.Kind == porcupine.CallEvent {
				k = key(e.Value)
				callKey[e.Id] = k
			} else {
				k = callKey[e.Id]
			}
			if _, seen := byKey[k]; !seen {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], e)
		}
		out := make([][]porcupine.Event, 0, len(order))
		for _, k := range order {
			out = append(out, byKey[k])
		}
		return out
	}
}

// cpuTime is the CPU time (user + system) of the whole process so far, every thread
// counted (the garbage collector's too).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	n := flag.Int("n", 10, "runs of the search per file; the fastest is printed")
	flag.Parse()
	for _, path := range flag.Args() {
		var events []porcupine.Event
		var model porcupine.Model
		var err error
		switch {
		case strings.HasSuffix(path, ".log"):
			events, err = parseEtcd(path)
			model = registerModel
		case strings.HasSuffix(path, ".txt"):
			events, err = parseKv(path)
			model = kvModel
		default:
			events, err = parseJsonl(path)
			model = registerModel
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(65)
		}
		best, bestCPU := time.Duration(1<<63-1), time.Duration(1<<63-1)
		var ok bool
		for i := 0; i < *n; i++ {
			cpu0 := cpuTime()
			start := time.Now()
			ok = porcupine.CheckEvents(model, events)
			if d := time.Since(start); d < best {
				best = d
			}
			if c := cpuTime() - cpu0; c < bestCPU {
				bestCPU = c
			}
		}
		verdict := "invalid"
		if ok {
			verdict = "valid"
		}
		fmt.Printf("%s\t%s\t%d events\tfastest of %d: %.2f ms wall, least CPU %.2f ms\n", path, verdict, len(events), *n,
			float64(best.Microseconds())/1000, float64(bestCPU.Microseconds())/1000)
	}
}
