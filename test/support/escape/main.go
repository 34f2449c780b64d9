// escape: the hostile-server test's helper, built statically at test time and copied into the
// test's MCP server image. Each mode tries one thing a sandboxed server must not be able to do and
// prints what happened; it never retries or hides a failure.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Println("usage: escape packet | fork | alloc <MiB>")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "packet":
		// A raw socket on every interface (ETH_P_ALL, in network byte order): what sniffing needs.
		fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0x0300)
		if err != nil {
			fmt.Printf("refused: %v\n", err)
			return
		}
		syscall.Close(fd)
		fmt.Println("opened")
	case "fork":
		// One thread and no collection while the pids are held: the runtime then never needs a new
		// thread, which the limit would refuse it too.
		runtime.GOMAXPROCS(1)
		debug.SetGCPercent(-1)
		// Start sleepers (busybox sleep: one thread, little memory) until the kernel refuses one, or
		// 10000 run; then stop and reap them all.
		var pids []int
		var refusal error
		for len(pids) < 10000 {
			pid, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "60"}, nil)
			if err != nil {
				refusal = err
				break
			}
			pids = append(pids, pid)
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
			var status syscall.WaitStatus
			syscall.Wait4(pid, &status, 0, nil)
		}
		if refusal != nil {
			fmt.Printf("refused after %d: %v\n", len(pids), refusal)
		} else {
			fmt.Printf("unbounded: %d\n", len(pids))
		}
	case "alloc":
		mib, _ := strconv.Atoi(os.Args[2])
		b := make([]byte, mib<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1 // touch every page, so it is really held
		}
		fmt.Printf("allocated %d MiB\n", mib)
	}
}
