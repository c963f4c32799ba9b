// Package pgtest runs a throwaway PostgreSQL server for tests: one cluster
// per test binary, a fresh database per test. It needs Debian's postgresql
// package (.ci/run installs it); without it tests skip with a message,
// unless BULWARK_REQUIRE_POSTGRES is set (as in CI), where they fail.
package pgtest

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

var (
	once    sync.Once
	cluster struct {
		dir, port, bin string
		err            error
	}
	dbSeq atomic.Int64
)

// binDir finds the PostgreSQL server binaries.
func binDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	return "", fmt.Errorf("PostgreSQL server binaries not found (apt-get install postgresql)")
}

// asPostgres runs a server binary, as the postgres user when we are root
// (PostgreSQL refuses to run as root).
func asPostgres(name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func start() {
	bin, err := binDir()
	if err != nil {
		cluster.err = err
		return
	}
	dir, err := os.MkdirTemp("", "bulwark-pg-")
	if err != nil {
		cluster.err = err
		return
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			cluster.err = fmt.Errorf("running as root needs the postgres user: %w", err)
			return
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		_ = os.Chown(dir, uid, gid)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cluster.err = err
		return
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	data := filepath.Join(dir, "data")
	if out, err := asPostgres(filepath.Join(bin, "initdb"), "-D", data, "--auth=trust", "-U", "postgres", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		cluster.err = fmt.Errorf("initdb: %v: %s", err, out)
		return
	}
	opts := "-c listen_addresses=127.0.0.1 -p " + port + " -k " + dir + " -c max_connections=200"
	if out, err := asPostgres(filepath.Join(bin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		cluster.err = fmt.Errorf("pg_ctl start: %v: %s %s", err, out, log)
		return
	}
	cluster.dir, cluster.port, cluster.bin = dir, port, bin
}

// DSN returns the URL of a new, empty database on the shared cluster.
func DSN(t testing.TB) string {
	t.Helper()
	once.Do(start)
	if cluster.err != nil {
		if os.Getenv("BULWARK_REQUIRE_POSTGRES") != "" {
			t.Fatalf("PostgreSQL is required here: %v", cluster.err)
		}
		t.Skipf("skipping: %v", cluster.err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	admin, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:"+cluster.port+"/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return "postgres://postgres@127.0.0.1:" + cluster.port + "/" + name + "?sslmode=disable"
}

// Stop shuts the cluster down; call it from TestMain after m.Run.
func Stop() {
	if cluster.dir == "" {
		return
	}
	_ = asPostgres(filepath.Join(cluster.bin, "pg_ctl"), "-D", filepath.Join(cluster.dir, "data"), "-m", "fast", "-w", "stop").Run()
	_ = os.RemoveAll(cluster.dir)
}

// Restart stops and starts the cluster (for tests of the server riding out
// a database restart); down is how long it stays stopped.
func Restart(t testing.TB, down time.Duration) {
	t.Helper()
	data := filepath.Join(cluster.dir, "data")
	if out, err := asPostgres(filepath.Join(cluster.bin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop: %v %s", err, out)
	}
	time.Sleep(down)
	opts := "-c listen_addresses=127.0.0.1 -p " + cluster.port + " -k " + cluster.dir + " -c max_connections=200"
	if out, err := asPostgres(filepath.Join(cluster.bin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(cluster.dir, "log"), "-w", "start").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl start: %v %s", err, out)
	}
}
