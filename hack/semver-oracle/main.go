// semver-oracle answers questions about versions and ranges with the real
// github.com/Masterminds/semver/v3, so e2e/test_semver_oracle.py can check irc.tags against it.
//
// Protocol: one JSON query per stdin line, one JSON answer per stdout line, in order.
//
//	{"op":"check","constraint":C,"version":V} -> {"constraint_ok":bool,"version_ok":bool,"matches":bool}
//	{"op":"compare","a":A,"b":B}              -> {"ok":bool,"result":-1|0|1}
//
// Built by hack/build-binaries.sh into $IRC_CACHE/semver-oracle-$MASTERMINDS_SEMVER_VERSION/.
package main

import (
	"bufio"
	"encoding/json"
	"io"
	"log"
	"os"

	"github.com/Masterminds/semver/v3"
)

type query struct {
	Op         string `json:"op"`
	Constraint string `json:"constraint"`
	Version    string `json:"version"`
	A          string `json:"a"`
	B          string `json:"b"`
}

type checkAnswer struct {
	ConstraintOK bool `json:"constraint_ok"`
	VersionOK    bool `json:"version_ok"`
	Matches      bool `json:"matches"`
}

type compareAnswer struct {
	OK     bool `json:"ok"`
	Result int  `json:"result"`
}

func main() {
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out) // one answer per line
	for {
		line, err := in.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			break
		} else if err != nil && err != io.EOF {
			log.Fatal(err)
		}
		var q query
		if err := json.Unmarshal(line, &q); err != nil {
			log.Fatalf("bad query %q: %v", line, err)
		}
		var answer any
		switch q.Op {
		case "check":
			c, cerr := semver.NewConstraint(q.Constraint)
			v, verr := semver.NewVersion(q.Version) // loose, as irc's Constraint.matches
			a := checkAnswer{ConstraintOK: cerr == nil, VersionOK: verr == nil}
			a.Matches = a.ConstraintOK && a.VersionOK && c.Check(v)
			answer = a
		case "compare":
			// irc's compare_versions parses loosely ("1.2", "v1", "01.2.3"), so NewVersion here too.
			a, aerr := semver.NewVersion(q.A)
			b, berr := semver.NewVersion(q.B)
			ans := compareAnswer{OK: aerr == nil && berr == nil}
			if ans.OK {
				ans.Result = a.Compare(b)
			}
			answer = ans
		default:
			log.Fatalf("unknown op %q", q.Op)
		}
		if err := enc.Encode(answer); err != nil {
			log.Fatal(err)
		}
		// Flush once the queued input is consumed, so batched queries are answered in bulk and a
		// lone query is not left waiting in the buffer.
		if in.Buffered() == 0 {
			if err := out.Flush(); err != nil {
				log.Fatal(err)
			}
		}
	}
	if err := out.Flush(); err != nil {
		log.Fatal(err)
	}
}
