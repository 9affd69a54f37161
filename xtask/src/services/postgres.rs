//! PostgreSQL from Debian's `postgresql` package, run as the packaged `main` cluster.
//!
//! Tests connect with [`TEST_URL`]: the role `vigil` (password `vigil`, `CREATEDB`) over TCP
//! on 127.0.0.1:5432, so each test can create and drop a database of its own.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Service, Status};
use crate::util::{find_executable, is_root, output, run};

/// The URL tests read from `VIGIL_TEST_POSTGRES_URL`.
pub const TEST_URL: &str = "postgres://vigil:vigil@127.0.0.1:5432/postgres";

const PORT: u16 = 5432;
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Creates the `vigil` role, or resets its rights and password if it exists.
const ENSURE_ROLE_SQL: &str = "DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'vigil') THEN
    CREATE ROLE vigil LOGIN CREATEDB PASSWORD 'vigil';
  ELSE
    ALTER ROLE vigil LOGIN CREATEDB PASSWORD 'vigil';
  END IF;
END $$;";

/// The PostgreSQL service.
pub struct Postgres;

/// One line of `pg_lsclusters`.
#[derive(Debug, PartialEq)]
struct Cluster {
    version: String,
    name: String,
    port: u16,
    online: bool,
    log_file: String,
}

impl Cluster {
    fn id(&self) -> String {
        format!("{}/{}", self.version, self.name)
    }
}

impl Service for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn install(&self) -> Result<()> {
        if installed() {
            return Ok(());
        }
        bail!(
            "PostgreSQL is not installed (no `pg_ctlcluster` on PATH). Install it with \
             `apt-get install postgresql` as root (.ci/run does this), then re-run."
        )
    }

    fn start(&self) -> Result<()> {
        let cluster = main_cluster()?;
        if cluster.port != PORT {
            bail!(
                "cluster {} listens on port {}, but tests expect {PORT}: set `port = {PORT}` in \
                 /etc/postgresql/{}/{}/postgresql.conf and re-run",
                cluster.id(),
                cluster.port,
                cluster.version,
                cluster.name
            );
        }
        if cluster.online {
            eprintln!("    cluster {} already online", cluster.id());
        } else {
            if port_taken() {
                bail!(
                    "port {PORT} on 127.0.0.1 is taken by something other than cluster {} \
                     (which is down); find it with `ss -ltnp 'sport = :{PORT}'` and stop it",
                    cluster.id()
                );
            }
            eprintln!("    starting cluster {}", cluster.id());
            run(privileged("pg_ctlcluster").args([&cluster.version, &cluster.name, "start"]))
                .with_context(|| format!("see the server log in {}", cluster.log_file))?;
        }
        wait_ready(&cluster)?;
        ensure_role()?;
        check_login().context(
            "role `vigil` exists but cannot log in over TCP with its password; \
             check the `host` lines for 127.0.0.1/32 in pg_hba.conf (scram-sha-256 or md5)",
        )?;
        eprintln!("    VIGIL_TEST_POSTGRES_URL={TEST_URL}");
        Ok(())
    }

    fn check(&self) -> Result<Status> {
        if !installed() {
            return Ok(Status::Missing(
                "install with `apt-get install postgresql`".into(),
            ));
        }
        let cluster = main_cluster()?;
        if !cluster.online {
            return Ok(Status::Stopped(format!("cluster {} is down", cluster.id())));
        }
        if !is_ready() {
            return Ok(Status::Stopped(format!(
                "cluster {} is online but 127.0.0.1:{PORT} does not answer",
                cluster.id()
            )));
        }
        if let Err(error) = check_login() {
            return Ok(Status::Stopped(format!(
                "cluster {} answers, but role vigil cannot log in: {error:#}",
                cluster.id()
            )));
        }
        Ok(Status::Running(format!(
            "cluster {}, {TEST_URL}",
            cluster.id()
        )))
    }

    fn stop(&self) -> Result<()> {
        if !installed() {
            eprintln!("    not installed; nothing to stop");
            return Ok(());
        }
        let cluster = main_cluster()?;
        if !cluster.online {
            eprintln!("    cluster {} already down", cluster.id());
            return Ok(());
        }
        run(privileged("pg_ctlcluster").args([&cluster.version, &cluster.name, "stop"]))
    }
}

fn installed() -> bool {
    find_executable("pg_ctlcluster", &[]).is_some()
}

/// A command run as root: directly when we are root, else through `sudo -n`.
fn privileged(program: &str) -> Command {
    if is_root() {
        return Command::new(program);
    }
    let mut cmd = Command::new("sudo");
    cmd.args(["-n", program]);
    cmd
}

/// A command run as the `postgres` OS user, which may use the superuser over the socket.
fn as_postgres(program: &str) -> Command {
    let mut cmd = if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--", program]);
        cmd
    } else {
        let mut cmd = Command::new("sudo");
        cmd.args(["-n", "-u", "postgres", "--", program]);
        cmd
    };
    // The postgres user may not be allowed into the clone; psql warns about that otherwise.
    cmd.current_dir("/");
    cmd
}

/// Parses `pg_lsclusters --no-header`: `15 main 5432 online postgres /var/lib/... /var/log/...`.
fn parse_clusters(text: &str) -> Vec<Cluster> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [version, name, port, status, _owner, _data_dir, rest @ ..] = fields.as_slice()
            else {
                return None;
            };
            Some(Cluster {
                version: (*version).to_owned(),
                name: (*name).to_owned(),
                port: port.parse().ok()?,
                online: status.starts_with("online"),
                log_file: rest.first().map_or("(no log file)", |l| *l).to_owned(),
            })
        })
        .collect()
}

/// The `main` cluster to use: the newest one on port 5432, else the newest of all.
fn main_cluster() -> Result<Cluster> {
    let text = output(Command::new("pg_lsclusters").arg("--no-header"))?;
    let mut clusters: Vec<Cluster> = parse_clusters(&text)
        .into_iter()
        .filter(|c| c.name == "main")
        .collect();
    clusters.sort_by_key(|c| (c.port == PORT, c.version.parse::<u32>().unwrap_or(0)));
    clusters.pop().context(
        "PostgreSQL is installed but has no `main` cluster; create one with \
         `pg_createcluster <version> main` (version as in /usr/lib/postgresql/)",
    )
}

fn port_taken() -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, PORT));
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

fn is_ready() -> bool {
    Command::new("pg_isready")
        .args(["-q", "-h", "127.0.0.1", "-p", &PORT.to_string()])
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn wait_ready(cluster: &Cluster) -> Result<()> {
    let started = Instant::now();
    while !is_ready() {
        if started.elapsed() > READY_TIMEOUT {
            bail!(
                "PostgreSQL cluster {} did not accept connections on 127.0.0.1:{PORT} within {} s; \
                 see its log in {} and check `listen_addresses` in postgresql.conf",
                cluster.id(),
                READY_TIMEOUT.as_secs(),
                cluster.log_file
            );
        }
        thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

fn ensure_role() -> Result<()> {
    output(
        as_postgres("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-p", &PORT.to_string()])
            .args(["-d", "postgres", "-c", ENSURE_ROLE_SQL]),
    )
    .context("could not create the `vigil` role as the postgres superuser")?;
    Ok(())
}

fn check_login() -> Result<()> {
    let answer = output(Command::new("psql").args([TEST_URL, "-X", "-A", "-t", "-c", "select 1"]))?;
    if answer.trim() != "1" {
        bail!("`select 1` answered {answer:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pg_lsclusters_lines() {
        let text = "15  main    5432 down   postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log\n\
                    16  main    5433 online,recovery postgres /var/lib/postgresql/16/main /var/log/postgresql/postgresql-16-main.log\n";
        let clusters = parse_clusters(text);
        assert_eq!(clusters.len(), 2);
        assert_eq!(
            clusters[0],
            Cluster {
                version: "15".into(),
                name: "main".into(),
                port: 5432,
                online: false,
                log_file: "/var/log/postgresql/postgresql-15-main.log".into(),
            }
        );
        assert!(clusters[1].online);
        assert_eq!(clusters[1].port, 5433);
    }

    #[test]
    fn ignores_malformed_lines() {
        assert!(parse_clusters("garbage\n\n15 main notaport down").is_empty());
    }
}
