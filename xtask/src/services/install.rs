//! Getting engines onto the machine and their configs into the run folder: Debian packages
//! with `apt-get`, jars from Maven Central with `mvn`, and `@NAME@` config templates from
//! `ops/`.
//!
//! Downloads land in a `.partial` folder that is renamed only when complete, so an
//! interrupted install is redone rather than half-used.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::daemon::engines_dir;
use crate::util::{display, find_executable, is_root, project_root, run};

/// `ops/<name>` in the clone: the engine's config templates and Maven pom.
pub fn ops_dir(name: &str) -> PathBuf {
    project_root().join("ops").join(name)
}

/// Replaces every `@NAME@` in `template` by its value; fails if one is left unreplaced.
pub fn render(template: &str, vars: &[(&str, &str)]) -> Result<String> {
    let mut text = template.to_owned();
    for (name, value) in vars {
        text = text.replace(&format!("@{name}@"), value);
    }
    if let Some(left) = leftover_placeholder(&text) {
        bail!("the template has a placeholder `{left}` that no value was given for");
    }
    Ok(text)
}

/// The first `@NAME@` (capital letters, digits, underscores) in `text`.
fn leftover_placeholder(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(start) = rest.find('@') {
        let after = &rest[start + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        if len > 0 && after[len..].starts_with('@') {
            return Some(&rest[start..start + len + 2]);
        }
        rest = after;
    }
    None
}

/// Renders `ops/<service>/<file>` into `out` (the run folder's copy).
pub fn render_file(service: &str, file: &str, out: &Path, vars: &[(&str, &str)]) -> Result<()> {
    let source = ops_dir(service).join(file);
    let template = fs::read_to_string(&source)
        .with_context(|| format!("could not read {}", source.display()))?;
    let text = render(&template, vars).with_context(|| format!("in {}", source.display()))?;
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    }
    fs::write(out, text).with_context(|| format!("could not write {}", out.display()))
}

/// Installs Debian packages if `program` is missing: `apt-get update`, then `install`.
pub fn apt_install(program: &str, packages: &[&str]) -> Result<()> {
    if find_executable(program, &[]).is_some() {
        return Ok(());
    }
    let list = packages.join(" ");
    if !is_root() {
        bail!("`{program}` is missing; install it with `sudo apt-get install {list}` and re-run");
    }
    eprintln!("    `{program}` is missing; installing Debian packages: {list}");
    run(Command::new("apt-get")
        .args(["update", "-q"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .context("could not update the Debian package lists")?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .with_context(|| format!("could not install the Debian packages {list}"))
}

/// The `java` to run the JVM engines with: Java 17 if installed (both engines support it),
/// else the one on PATH. Installs a headless Java 17 when there is none.
pub fn java() -> Result<PathBuf> {
    let java17 = fs::read_dir("/usr/lib/jvm")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("java-17-openjdk")
        })
        .map(|entry| entry.path().join("bin/java"))
        .find(|java| java.is_file());
    if let Some(java) = java17 {
        return Ok(java);
    }
    apt_install("java", &["openjdk-17-jre-headless"])?;
    find_executable("java", &[]).context("`java` is still not on PATH after installing it")
}

/// Reads `<name>value</name>` from a pom's properties, e.g. the engine version.
pub fn pom_property(pom: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = pom.find(&open)? + open.len();
    let len = pom[start..].find("</")?;
    Some(pom[start..start + len].trim().to_owned()).filter(|v| !v.is_empty())
}

/// An engine whose jars come from Maven Central through `ops/<service>/pom.xml`.
pub struct MavenEngine {
    pub service: &'static str,
    /// The pom property that holds the engine's version, e.g. `kafka.version`.
    pub version_property: &'static str,
}

impl MavenEngine {
    fn pom(&self) -> PathBuf {
        ops_dir(self.service).join("pom.xml")
    }

    /// The engine version named in the pom.
    pub fn version(&self) -> Result<String> {
        let pom = fs::read_to_string(self.pom())
            .with_context(|| format!("could not read {}", self.pom().display()))?;
        pom_property(&pom, self.version_property).with_context(|| {
            format!(
                "{} has no <{}> property",
                self.pom().display(),
                self.version_property
            )
        })
    }

    /// `$VIGIL_CACHE/engines/<service>-<version>/lib`.
    pub fn lib_dir(&self) -> Result<PathBuf> {
        Ok(engines_dir()
            .join(format!("{}-{}", self.service, self.version()?))
            .join("lib"))
    }

    /// The classpath for `java -cp`: every jar of the lib folder.
    pub fn classpath(&self) -> Result<String> {
        Ok(format!("{}/*", self.lib_dir()?.display()))
    }

    pub fn installed(&self) -> Result<bool> {
        Ok(self.lib_dir()?.join(".complete").is_file())
    }

    /// Copies the pom's dependencies into the lib folder once (Java and Maven first).
    pub fn install(&self) -> Result<()> {
        java()?;
        if self.installed()? {
            return Ok(());
        }
        apt_install("mvn", &["maven"])?;
        let lib = self.lib_dir()?;
        let partial = lib.with_extension("partial");
        let _ = fs::remove_dir_all(&partial);
        eprintln!(
            "    downloading {} {} jars from Maven Central into {}",
            self.service,
            self.version()?,
            lib.display()
        );
        let mut cmd = Command::new("mvn");
        cmd.args(["-q", "-B", "-Dstyle.color=never", "-f"])
            .arg(self.pom())
            .arg("dependency:copy-dependencies")
            .arg(format!("-DoutputDirectory={}", partial.display()))
            .arg("-DincludeScope=runtime")
            .stdin(Stdio::null());
        let shown = display(&cmd);
        let out = cmd
            .output()
            .with_context(|| format!("could not start `{shown}`"))?;
        if !out.status.success() {
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let tail: Vec<&str> = said.lines().rev().take(20).collect();
            bail!(
                "could not download the {} jars from Maven Central (`{shown}` failed, {}); \
                 check that the Maven registry is reachable and the versions in {} exist. \
                 Maven said:\n{}",
                self.service,
                out.status,
                self.pom().display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        fs::write(partial.join(".complete"), "")?;
        let _ = fs::remove_dir_all(&lib);
        fs::rename(&partial, &lib)
            .with_context(|| format!("could not move the jars to {}", lib.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_replaces_every_placeholder() {
        let out = render(
            "dir=@RUN_DIR@/data\nlog=@RUN_DIR@/log @PORT@",
            &[("RUN_DIR", "/r"), ("PORT", "1")],
        )
        .unwrap();
        assert_eq!(out, "dir=/r/data\nlog=/r/log 1");
    }

    #[test]
    fn render_fails_on_a_forgotten_placeholder() {
        let error = render("a=@RUN_DIR@ b=@OTHER@", &[("RUN_DIR", "/r")]).unwrap_err();
        assert!(error.to_string().contains("@OTHER@"), "{error}");
    }

    #[test]
    fn render_leaves_plain_at_signs_alone() {
        let text = "voters=1@127.0.0.1:9093 mail=a@b.c @lower@ @@";
        assert_eq!(render(text, &[]).unwrap(), text);
    }

    #[test]
    fn reads_pom_properties() {
        let pom = "<properties>\n  <kafka.version>4.1.2</kafka.version>\n</properties>";
        assert_eq!(pom_property(pom, "kafka.version").as_deref(), Some("4.1.2"));
        assert_eq!(pom_property(pom, "cassandra.version"), None);
    }

    #[test]
    fn shipped_poms_name_their_versions() {
        for (service, property) in [
            ("kafka", "kafka.version"),
            ("cassandra", "cassandra.version"),
        ] {
            let engine = MavenEngine {
                service,
                version_property: property,
            };
            let version = engine.version().unwrap();
            assert!(
                version.chars().next().unwrap().is_ascii_digit(),
                "{version}"
            );
        }
    }
}
