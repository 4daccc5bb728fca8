//! `cargo xtask bench` and `cargo xtask soak`: the mock in release mode
//! under wrk on 127.0.0.1, against a minimal hyper server that sends the
//! same bytes and so stands for the machine's ceiling. Each run reports
//! throughput, latency, errors, CPU time per request, peak memory and the
//! time to the first 200 against its target. Nothing here runs in CI.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The path of the documented request for the ready default profile.
const READY_PATH: &str =
    "/beta/education/synchronizationProfiles/9cbbf4f1-5a07-4f8e-9e51-1d3c40a6a2b1/uploadUrl";

/// The path of the first profile of a generated profiles file.
const FIRST_GENERATED_PATH: &str =
    "/beta/education/synchronizationProfiles/00000000-0000-4000-8000-000000000000/uploadUrl";

/// How long a server has to give its first 200 before the bench gives up.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The targets, with 32 connections: throughput against the reference,
/// p99 latency, time from start to the first 200, and peak memory.
const TARGET_RATIO: f64 = 0.6;
const TARGET_P99_MS: f64 = 4.0;
const TARGET_FIRST_200_MS: f64 = 10.0;
const TARGET_PEAK_MIB: f64 = 16.0;

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Seconds of each measured run (after 2 s of warm-up).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: u64,
    /// Pairs of runs: mock, then reference.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: u64,
    /// wrk's open connections.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// wrk's threads, at most --connections.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: u32,
    /// Also measure Prism 5.14.2 mocking the same document.
    #[arg(long)]
    pub with_prism: bool,
    /// Also measure the mock's dropshot server without the gate in front of
    /// it, to show what the gate's hop costs.
    #[arg(long)]
    pub breakdown: bool,
    /// Measure 10, 10 000 and 1 000 000 profiles loaded from a file instead:
    /// start-up, memory per profile and throughput.
    #[arg(long, conflicts_with_all = ["with_prism", "breakdown", "rounds"])]
    pub growth: bool,
    /// A flag for the mock, to compare settings (repeatable), for example
    /// --mock-flag=--log-level=warning.
    #[arg(long = "mock-flag", value_name = "FLAG", allow_hyphen_values = true)]
    pub mock_flags: Vec<String>,
}

/// The figures of one server in one run.
#[derive(Debug, Clone, Default)]
struct Measurement {
    requests: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    cpu_us_per_request: f64,
    peak_mib: f64,
    first_200_ms: f64,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is below the root")
}

/// Runs `cargo xtask bench`.
pub fn run(options: &Options) -> Result<ExitCode> {
    // clap checks each value's range; wrk needs a connection per thread.
    if options.threads > options.connections {
        bail!(
            "--threads {} must be at most --connections {}, as wrk requires; lower --threads or raise --connections",
            options.threads,
            options.connections
        );
    }
    let root = root();
    ensure_wrk()?;
    build(root)?;
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work)?;
    let key = work.join("development.key");
    let token = mint_token(root, &key, 3600)?;
    let prism = if options.with_prism {
        Some(crate::services::install_node(root)?.prism)
    } else {
        None
    };
    print_machine();
    if options.growth {
        return growth(root, &work, &key, &token, options);
    }

    let response_file = capture_response(root, &work, &key, &token, &options.mock_flags)?;
    let mut rows = Vec::new();
    for round in 1..=options.rounds {
        let mock = measure_server(
            Server::Mock {
                key: &key,
                profiles: None,
                flags: &options.mock_flags,
                log: &work.join("mock.log"),
            },
            root,
            &token,
            options,
            None,
        )?;
        let reference = measure_server(
            Server::Reference {
                response: &response_file,
            },
            root,
            &token,
            options,
            None,
        )?;
        let mut others = Vec::new();
        if options.breakdown {
            let alone = measure_server(
                Server::DropshotAlone {
                    key: &key,
                    flags: &options.mock_flags,
                    log: &work.join("mock-alone.log"),
                },
                root,
                &token,
                options,
                None,
            )?;
            others.push(("dropshot alone", alone));
        }
        if let Some(prism) = &prism {
            let prism = measure_server(Server::Prism { prism }, root, &token, options, None)?;
            others.push(("Prism", prism));
        }
        println!(
            "round {round}: mock {:.0} requests/s, reference {:.0}, ratio {:.2}",
            mock.rps,
            reference.rps,
            mock.rps / reference.rps
        );
        rows.push((mock, reference, others));
    }
    println!();
    print!("{}", render(options, &rows));
    Ok(ExitCode::SUCCESS)
}

/// The servers the bench starts.
enum Server<'a> {
    Mock {
        key: &'a Path,
        profiles: Option<&'a Path>,
        flags: &'a [String],
        log: &'a Path,
    },
    Reference {
        response: &'a Path,
    },
    Prism {
        prism: &'a Path,
    },
    /// The mock's dropshot server on its internal loopback port, without
    /// the gate in front of it: not a way to run the mock, but the measure
    /// of what the gate's hop costs.
    DropshotAlone {
        key: &'a Path,
        flags: &'a [String],
        log: &'a Path,
    },
}

impl Server<'_> {
    /// Returns the path of the documented request below the server's root.
    fn path(&self) -> &'static str {
        match self {
            // Prism serves the document's paths without the server URL's
            // `/beta`.
            Server::Prism { .. } => &READY_PATH["/beta".len()..],
            Server::Mock {
                profiles: Some(_), ..
            } => FIRST_GENERATED_PATH,
            _ => READY_PATH,
        }
    }

    fn spawn(&self, root: &Path, port: u16) -> Result<Running> {
        let address = format!("127.0.0.1:{port}");
        let release = root.join("target/release");
        let mut command = match self {
            Server::DropshotAlone { key, flags, log } => {
                return Server::Mock {
                    key,
                    profiles: None,
                    flags,
                    log,
                }
                .spawn(root, port)
            }
            Server::Mock {
                key,
                profiles,
                flags,
                log,
            } => {
                let mut command = Command::new(release.join("uploadurl-mock"));
                command
                    .args(["--listen", &address, "--signing-key"])
                    .arg(key)
                    .args(flags.iter());
                if let Some(profiles) = profiles {
                    command.arg("--profiles").arg(profiles);
                }
                command.stderr(std::fs::File::create(log)?);
                command
            }
            Server::Reference { response } => {
                let mut command = Command::new(release.join("examples/reference_server"));
                command.arg(&address).arg(response);
                command.stderr(Stdio::null());
                command
            }
            Server::Prism { prism } => {
                let mut command = Command::new(prism);
                command
                    .arg("mock")
                    .arg(root.join("openapi/uploadurl.json"))
                    .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--verboseLevel", "error"]);
                command.stderr(Stdio::null());
                command
            }
        };
        stop_with_parent(&mut command);
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("failed to start {:?}", command.get_program()))?;
        Ok(Running(child))
    }

    /// Returns the file that receives the server's standard error, if any.
    fn log(&self) -> Option<&Path> {
        match self {
            Server::Mock { log, .. } | Server::DropshotAlone { log, .. } => Some(log),
            Server::Reference { .. } | Server::Prism { .. } => None,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Server::Mock { .. } => "mock",
            Server::Reference { .. } => "reference",
            Server::Prism { .. } => "Prism",
            Server::DropshotAlone { .. } => "dropshot alone",
        }
    }
}

/// A child process, killed when dropped.
struct Running(Child);

impl Running {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `server`, measures the time to its first 200, warms it up, runs
/// wrk for the measured time and reads its CPU time and peak memory.
fn measure_server(
    server: Server,
    root: &Path,
    token: &str,
    options: &Options,
    script: Option<(&Path, &str)>,
) -> Result<Measurement> {
    let port = free_port()?;
    // Truncating the last run's log (tens of megabytes) took longer than
    // the start itself, so it is removed before the clock starts. The
    // previous server also gets a moment to finish exiting.
    if let Some(log) = server.log() {
        let _ = std::fs::remove_file(log);
    }
    std::thread::sleep(Duration::from_millis(300));

    let started = Instant::now();
    let mut running = server.spawn(root, port)?;
    let first_200 = wait_for_200(&mut running, port, server.path(), token, started)
        .with_context(|| start_failure(server.name(), server.log()))?;
    let port = match &server {
        Server::DropshotAlone { .. } => other_listening_port(running.pid(), port)?,
        _ => port,
    };

    let url = format!("http://127.0.0.1:{port}{}", server.path());
    wrk(&url, token, 2, options, script)?;
    let ticks_before = cpu_ticks(running.pid())?;
    let result = wrk(&url, token, options.seconds, options, script)?;
    let ticks_after = cpu_ticks(running.pid())?;
    let peak_kib = proc_status_kib(running.pid(), "VmHWM")?;
    let cpu_seconds = (ticks_after - ticks_before) as f64 / clock_ticks_per_second()?;
    drop(running);

    let measurement = Measurement {
        cpu_us_per_request: cpu_seconds * 1e6 / result.requests.max(1) as f64,
        peak_mib: peak_kib as f64 / 1024.0,
        first_200_ms: first_200.as_secs_f64() * 1e3,
        ..result
    };
    eprintln!(
        "  {}: {:.0} requests/s, p99 {:.2} ms, {} errors",
        server.name(),
        measurement.rps,
        measurement.p99_ms,
        measurement.errors
    );
    Ok(measurement)
}

/// One round: the mock, the reference, and the optional other servers.
type Round = (Measurement, Measurement, Vec<(&'static str, Measurement)>);

fn render(options: &Options, rows: &[Round]) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "wrk: {} connections, {} threads, {} s per run, rounds of mock then reference: {}\n",
        options.connections,
        options.threads,
        options.seconds,
        rows.len()
    );
    let _ = writeln!(
        text,
        "| round | server | requests/s | ratio | p50 ms | p99 ms | errors | CPU µs/request | peak MiB | first 200 ms |"
    );
    let _ = writeln!(
        text,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );

    for (index, (mock, reference, others)) in rows.iter().enumerate() {
        let ratio = format!("{:.2}", mock.rps / reference.rps);
        let mut line = |name: &str, m: &Measurement, ratio: &str| {
            let _ = writeln!(
                text,
                "| {} | {name} | {:.0} | {ratio} | {:.2} | {:.2} | {} | {:.1} | {:.1} | {:.1} |",
                index + 1,
                m.rps,
                m.p50_ms,
                m.p99_ms,
                m.errors,
                m.cpu_us_per_request,
                m.peak_mib,
                m.first_200_ms
            );
        };
        line("mock", mock, &ratio);
        line("reference", reference, "");
        for (name, other) in others {
            line(name, other, &format!("{:.2}", other.rps / reference.rps));
        }
    }

    let ratios: Vec<f64> = rows.iter().map(|(m, r, _)| m.rps / r.rps).collect();
    let median_ratio = median(&ratios);
    let worst_p99 = rows.iter().map(|(m, _, _)| m.p99_ms).fold(0.0, f64::max);
    let errors: u64 = rows.iter().map(|(m, _, _)| m.errors).sum();
    let worst_first = rows
        .iter()
        .map(|(m, _, _)| m.first_200_ms)
        .fold(0.0, f64::max);
    let worst_peak = rows.iter().map(|(m, _, _)| m.peak_mib).fold(0.0, f64::max);
    let verdict = |met: bool| if met { "met" } else { "missed" };

    let _ = writeln!(text, "\n| target | measured (mock) | |");
    let _ = writeln!(text, "| --- | --- | --- |");
    let _ = writeln!(
        text,
        "| throughput ≥ {TARGET_RATIO} of the reference | median ratio {median_ratio:.2} (rounds: {}) | {} |",
        ratios
            .iter()
            .map(|ratio| format!("{ratio:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
        verdict(median_ratio >= TARGET_RATIO)
    );
    let _ = writeln!(
        text,
        "| p99 ≤ {TARGET_P99_MS} ms | worst {worst_p99:.2} ms | {} |",
        verdict(worst_p99 <= TARGET_P99_MS)
    );
    let _ = writeln!(text, "| no errors | {errors} | {} |", verdict(errors == 0));
    let _ = writeln!(
        text,
        "| first 200 ≤ {TARGET_FIRST_200_MS} ms after start | worst {worst_first:.1} ms | {} |",
        verdict(worst_first <= TARGET_FIRST_200_MS)
    );
    let _ = writeln!(
        text,
        "| peak memory ≤ {TARGET_PEAK_MIB} MiB | worst {worst_peak:.1} MiB | {} |",
        verdict(worst_peak <= TARGET_PEAK_MIB)
    );
    text
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Measures start-up, memory and throughput with 10, 10 000 and 1 000 000
/// profiles loaded from a file, each request for a random one of them.
fn growth(
    root: &Path,
    work: &Path,
    key: &Path,
    token: &str,
    options: &Options,
) -> Result<ExitCode> {
    let script = root.join("xtask/bench/random-profile.lua");
    let mut results = Vec::new();
    for count in [10usize, 10_000, 1_000_000] {
        let file = work.join(format!("profiles-{count}.json"));
        write_profiles(&file, count)?;
        let file_mib = std::fs::metadata(&file)?.len() as f64 / (1024.0 * 1024.0);
        // Start-up and resident memory once loaded, without load.
        let port = free_port()?;
        let _ = std::fs::remove_file(work.join("mock-growth.log"));
        let started = Instant::now();
        let mut running = Server::Mock {
            key,
            profiles: Some(&file),
            flags: &options.mock_flags,
            log: &work.join("mock-growth.log"),
        }
        .spawn(root, port)?;
        let first_200 = wait_for_200(&mut running, port, FIRST_GENERATED_PATH, token, started)
            .with_context(|| start_failure("mock", Some(&work.join("mock-growth.log"))))?;
        let rss_kib = proc_status_kib(running.pid(), "VmRSS")?;
        drop(running);

        let count_text = count.to_string();
        let measured = measure_server(
            Server::Mock {
                key,
                profiles: Some(&file),
                flags: &options.mock_flags,
                log: &work.join("mock-growth.log"),
            },
            root,
            token,
            options,
            Some((&script, &count_text)),
        )?;
        println!(
            "{count} profiles: first 200 after {:.0} ms, {:.1} MiB resident, {:.0} requests/s",
            first_200.as_secs_f64() * 1e3,
            rss_kib as f64 / 1024.0,
            measured.rps
        );
        results.push((count, file_mib, first_200, rss_kib, measured));
    }

    let mut text = String::new();
    let _ = writeln!(
        text,
        "\n| profiles | file MiB | first 200 ms | resident MiB at start | requests/s | p99 ms | CPU µs/request | errors |"
    );
    let _ = writeln!(text, "| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (count, file_mib, first_200, rss_kib, m) in &results {
        let _ = writeln!(
            text,
            "| {count} | {file_mib:.1} | {:.0} | {:.1} | {:.0} | {:.2} | {:.1} | {} |",
            first_200.as_secs_f64() * 1e3,
            *rss_kib as f64 / 1024.0,
            m.rps,
            m.p99_ms,
            m.cpu_us_per_request,
            m.errors
        );
    }

    let (small_count, _, small_start, small_rss, _) = &results[0];
    let (large_count, _, large_start, large_rss, _) = &results[results.len() - 1];
    let per_profile = (*large_rss as f64 - *small_rss as f64) * 1024.0
        / (*large_count as f64 - *small_count as f64);
    let start_per_profile = (large_start.as_secs_f64() - small_start.as_secs_f64()) * 1e6
        / (*large_count as f64 - *small_count as f64);
    let _ = writeln!(
        text,
        "\nmemory per profile: {per_profile:.0} bytes; start-up per profile: {start_per_profile:.2} µs"
    );
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Writes `count` provisioned CSV profiles, ids
/// `{i:08x}-0000-4000-8000-{i:012x}`, unless the file is there already.
fn write_profiles(path: &Path, count: usize) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let partial = path.with_extension("partial");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&partial)?);
    file.write_all(b"[\n")?;
    for i in 0..count {
        let separator = if i + 1 == count { "" } else { "," };
        writeln!(
            file,
            r##"{{"id":"{i:08x}-0000-4000-8000-{i:012x}","displayName":"School {i}","state":"provisioned","dataProvider":{{"@odata.type":"#microsoft.graph.educationCsvDataProvider","customizations":{{}}}},"profileStatus":{{"status":"success"}}}}{separator}"##
        )?;
    }
    file.write_all(b"]\n")?;
    file.flush()?;
    drop(file);
    std::fs::rename(&partial, path)?;
    Ok(())
}

/// Runs `cargo xtask soak`: mixed traffic for `minutes`, then checks the
/// statuses and the resident memory against its value after warm-up.
pub fn soak(minutes: u64, connections: u32) -> Result<ExitCode> {
    let root = root();
    ensure_wrk()?;
    build(root)?;
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work)?;
    let key = work.join("development.key");
    // The token must outlive the soak.
    let token = mint_token(root, &key, minutes * 60 + 600)?;
    print_machine();
    let port = free_port()?;
    let started = Instant::now();
    let log = work.join("mock-soak.log");
    let flags = Vec::new();
    let mut running = Server::Mock {
        key: &key,
        profiles: None,
        flags: &flags,
        log: &log,
    }
    .spawn(root, port)?;
    wait_for_200(&mut running, port, READY_PATH, &token, started)
        .with_context(|| start_failure("mock", Some(&log)))?;
    let pid = running.pid();

    let duration = Duration::from_secs(minutes * 60);
    let warm_up = (duration / 10).max(Duration::from_secs(30));
    let sampler = std::thread::spawn(move || -> Result<Vec<(Duration, u64)>> {
        let begin = Instant::now();
        let mut samples = Vec::new();
        while begin.elapsed() < duration {
            std::thread::sleep(Duration::from_secs(5));
            samples.push((begin.elapsed(), proc_status_kib(pid, "VmRSS")?));
        }
        Ok(samples)
    });
    let script = root.join("xtask/bench/mixed.lua");
    let mut command = Command::new("wrk");
    command
        .args(["-t", "2", "-c", &connections.to_string()])
        .args(["-d", &format!("{}s", duration.as_secs()), "--latency", "-s"])
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--")
        .arg(&token);
    let stdout = run_wrk(command);
    let samples = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the memory sampler panicked"))??;
    let peak_kib = proc_status_kib(pid, "VmHWM")?;
    drop(running);
    let stdout = stdout?;
    let result = parse_wrk(&stdout)?;
    let mut statuses = Vec::new();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("status ") {
            let mut parts = rest.split_whitespace();
            let status: u16 = parts.next().unwrap_or("").parse()?;
            let count: u64 = parts.next().unwrap_or("").parse()?;
            statuses.push((status, count));
        }
    }
    statuses.sort();
    let total: u64 = statuses.iter().map(|(_, count)| count).sum();
    let unexpected: u64 = statuses
        .iter()
        .filter(|(status, _)| ![200, 401, 404, 409].contains(status))
        .map(|(_, count)| count)
        .sum();
    let shares_even = [200, 401, 404, 409].iter().all(|expected| {
        let count = statuses
            .iter()
            .find(|(status, _)| status == expected)
            .map_or(0, |(_, count)| *count);
        let share = count as f64 / total.max(1) as f64;
        (0.24..=0.26).contains(&share)
    });
    let after_warm_up = samples
        .iter()
        .find(|(at, _)| *at >= warm_up)
        .map(|(_, kib)| *kib)
        .context("no memory sample after the warm-up")?;
    let at_end = samples.last().map(|(_, kib)| *kib).unwrap_or_default();
    let growth = (at_end as f64 - after_warm_up as f64) / after_warm_up as f64;

    let mut text = String::new();
    let _ = writeln!(
        text,
        "soak: {minutes} min, {connections} connections, {} requests, {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, socket errors {}",
        result.requests, result.rps, result.p50_ms, result.p99_ms, result.socket_errors
    );
    let _ = writeln!(
        text,
        "statuses: {}",
        statuses
            .iter()
            .map(|(status, count)| format!("{status}: {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        text,
        "resident memory: {:.2} MiB after {} s of warm-up, {:.2} MiB at the end ({:+.1}%), peak {:.2} MiB",
        after_warm_up as f64 / 1024.0,
        warm_up.as_secs(),
        at_end as f64 / 1024.0,
        growth * 100.0,
        peak_kib as f64 / 1024.0
    );
    let _ = writeln!(text, "memory samples (s, MiB):");
    for (at, kib) in samples.iter().step_by((samples.len() / 10).max(1)) {
        let _ = writeln!(text, "  {:>4} {:.2}", at.as_secs(), *kib as f64 / 1024.0);
    }
    let passed =
        unexpected == 0 && result.socket_errors == 0 && shares_even && growth.abs() <= 0.10;
    let _ = writeln!(
        text,
        "unexpected statuses: {unexpected}; each outcome a quarter of the responses: {shares_even}; memory within 10%: {}",
        growth.abs() <= 0.10
    );
    let _ = writeln!(
        text,
        "{}",
        if passed { "soak passed" } else { "soak failed" }
    );
    print!("{text}");
    // At info level, ten minutes of requests write gigabytes of log; it is
    // kept only to find out why a soak failed.
    if passed {
        let _ = std::fs::remove_file(&log);
    } else {
        println!("the mock's log: {}", log.display());
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The figures wrk printed.
#[derive(Debug, Default)]
struct WrkResult {
    requests: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    socket_errors: u64,
}

/// Runs wrk against `url` for `seconds`, with the token as a header unless
/// a script sets the requests.
fn wrk(
    url: &str,
    token: &str,
    seconds: u64,
    options: &Options,
    script: Option<(&Path, &str)>,
) -> Result<Measurement> {
    let mut command = Command::new("wrk");
    command
        .args(["-t", &options.threads.to_string()])
        .args(["-c", &options.connections.to_string()])
        .args(["-d", &format!("{seconds}s"), "--latency"])
        .args(["-H", &format!("Authorization: Bearer {token}")]);
    if let Some((script, _)) = script {
        command.arg("-s").arg(script);
    }
    command.arg(url);
    if let Some((_, argument)) = script {
        command.args(["--", argument]);
    }
    let result = parse_wrk(&run_wrk(command)?)?;
    Ok(Measurement {
        requests: result.requests,
        rps: result.rps,
        p50_ms: result.p50_ms,
        p99_ms: result.p99_ms,
        errors: result.non_2xx + result.socket_errors,
        ..Measurement::default()
    })
}

/// Runs a wrk command, stopped with the bench, and returns its report.
fn run_wrk(mut command: Command) -> Result<String> {
    stop_with_parent(&mut command);
    let output = command.output().context("failed to run wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "wrk failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

/// Parses wrk's report with `--latency`.
fn parse_wrk(text: &str) -> Result<WrkResult> {
    let mut result = WrkResult::default();
    for line in text.lines().map(str::trim) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["Requests/sec:", value] => result.rps = value.parse()?,
            ["50%", value] => result.p50_ms = duration_ms(value)?,
            ["99%", value] => result.p99_ms = duration_ms(value)?,
            ["Non-2xx", "or", "3xx", "responses:", value] => result.non_2xx = value.parse()?,
            [count, "requests", "in", ..] => result.requests = count.parse()?,
            ["Socket", "errors:", rest @ ..] => {
                result.socket_errors = rest
                    .iter()
                    .filter_map(|field| field.trim_end_matches(',').parse::<u64>().ok())
                    .sum();
            }
            _ => {}
        }
    }
    if result.requests == 0 {
        bail!("wrk reported no requests: {text}");
    }
    Ok(result)
}

/// Converts wrk's `123.45us`, `1.23ms` or `1.02s` to milliseconds.
fn duration_ms(text: &str) -> Result<f64> {
    let (number, factor) = if let Some(number) = text.strip_suffix("us") {
        (number, 1e-3)
    } else if let Some(number) = text.strip_suffix("ms") {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60e3)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1e3)
    } else {
        bail!("unknown duration {text:?} in wrk's report")
    };
    Ok(number.parse::<f64>()? * factor)
}

/// Polls `port` with the documented request until it gives 200, and returns
/// the time since `started`. Any other status fails at once.
fn wait_for_200(
    running: &mut Running,
    port: u16,
    path: &str,
    token: &str,
    started: Instant,
) -> Result<Duration> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    loop {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut status_line = String::new();
                let _ = BufReader::new(&stream).read_line(&mut status_line);
                if status_line.starts_with("HTTP/1.1 200") {
                    return Ok(started.elapsed());
                }
                if status_line.starts_with("HTTP/") {
                    bail!("GET {path} returned {:?}; expected 200", status_line.trim());
                }
            }
        }
        if let Some(status) = running.0.try_wait()? {
            bail!("the server exited with {status} before its first 200");
        }
        if started.elapsed() > START_TIMEOUT {
            bail!("no 200 from port {port} within {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Returns the port of the mock's internal dropshot server: the process's
/// listening TCP socket other than `public`, found through `/proc`.
fn other_listening_port(pid: u32, public: u16) -> Result<u16> {
    let mut inodes = std::collections::HashSet::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        if let Ok(target) = std::fs::read_link(entry?.path()) {
            let target = target.to_string_lossy().into_owned();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|rest| rest.strip_suffix(']'))
            {
                inodes.insert(inode.to_string());
            }
        }
    }
    // Columns: sl, local address (hex IP:port), remote, state (0A is
    // LISTEN), ..., inode (the tenth).
    let table = std::fs::read_to_string("/proc/net/tcp")?;
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = u16::from_str_radix(fields.get(1)?.rsplit_once(':')?.1, 16).ok()?;
            (fields.get(3) == Some(&"0A") && inodes.contains(*fields.get(9)?)).then_some(port)
        })
        .find(|port| *port != public)
        .with_context(|| format!("process {pid} has no listening port besides {public}"))
}

/// Describes a server that gave no 200, with the end of its log, where the
/// mock prints why it stopped (a bad `--mock-flag`, for example).
fn start_failure(name: &str, log: Option<&Path>) -> String {
    let Some(log) = log else {
        return format!("the {name} did not start");
    };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut tail: Vec<&str> = text.lines().rev().take(5).collect();
    tail.reverse();
    format!(
        "the {name} did not start; the end of its log {}:\n{}",
        log.display(),
        tail.join("\n")
    )
}

/// Starts the mock once and stores its response to the documented request
/// (status, headers, body) for the reference server to send.
fn capture_response(
    root: &Path,
    work: &Path,
    key: &Path,
    token: &str,
    flags: &[String],
) -> Result<PathBuf> {
    let port = free_port()?;
    let mut running = Server::Mock {
        key,
        profiles: None,
        flags,
        log: &work.join("mock-capture.log"),
    }
    .spawn(root, port)?;
    wait_for_200(&mut running, port, READY_PATH, token, Instant::now())
        .with_context(|| start_failure("mock", Some(&work.join("mock-capture.log"))))?;

    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    write!(
        stream,
        "GET {READY_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    drop(running);

    let (head, body) = raw
        .split_once("\r\n\r\n")
        .context("the mock's response has no end of headers")?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .context("the mock's response has no status line")?;
    let mut file = format!("{status}\n");
    for line in lines {
        let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        // The reference writes its own framing and connection headers.
        if !["content-length", "connection", "transfer-encoding"].contains(&name.as_str()) {
            file.push_str(line);
            file.push('\n');
        }
    }
    file.push('\n');
    file.push_str(body);

    let path = work.join("reference-response.txt");
    std::fs::write(&path, file)?;
    Ok(path)
}

/// Mints a development token, valid for `seconds`, with the release binary.
/// The mock creates its development key when it first starts, so it is
/// started once when the key is missing.
fn mint_token(root: &Path, key: &Path, seconds: u64) -> Result<String> {
    if !key.exists() {
        let mut command = Command::new(root.join("target/release/uploadurl-mock"));
        stop_with_parent(&mut command);
        let _running = Running(
            command
                .args(["--listen", "127.0.0.1:0", "--signing-key"])
                .arg(key)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("failed to start uploadurl-mock")?,
        );
        let started = Instant::now();
        while !key.exists() {
            if started.elapsed() > Duration::from_secs(10) {
                bail!("the mock did not create {} within 10 s", key.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let output = Command::new(root.join("target/release/uploadurl-mock"))
        .args(["token", "--signing-key"])
        .arg(key)
        .args(["--expires-in", &seconds.to_string()])
        .output()
        .context("failed to run uploadurl-mock token")?;
    if !output.status.success() {
        bail!(
            "uploadurl-mock token failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_string())
}

/// Builds the mock and the reference server in release mode, with the same
/// package selection as the README's `cargo run --release -p server`.
fn build(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(&cargo)
        .args(["build", "--release", "--locked", "-p", "server"])
        .args(["--bin", "uploadurl-mock", "--example", "reference_server"])
        .current_dir(root)
        .status()
        .with_context(|| format!("failed to run {cargo} build"))?;
    if !status.success() {
        bail!("the release build failed");
    }
    Ok(())
}

/// Installs wrk from Debian's packages when it is missing.
fn ensure_wrk() -> Result<()> {
    let found = Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if found {
        return Ok(());
    }
    println!("installing wrk with apt-get");
    let update = Command::new("apt-get").args(["update", "-qq"]).status();
    let install = Command::new("apt-get")
        .args(["install", "-y", "-qq", "wrk"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    match (update, install) {
        (Ok(update), Ok(install)) if update.success() && install.success() => Ok(()),
        _ => bail!("wrk is not installed and apt-get could not install it; run `apt-get install wrk` as root"),
    }
}

/// Makes the child get SIGTERM when the bench exits, however it exits:
/// `Drop` stops the servers on a normal exit or an error, but not when the
/// bench itself is killed by a signal.
fn stop_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: prctl is async-signal-safe and touches no memory of the
    // parent, as pre_exec requires.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// User plus system CPU time of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces; utime and stime are fields 14 and 15 of the whole line.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

fn clock_ticks_per_second() -> Result<f64> {
    let output = Command::new("getconf").arg("CLK_TCK").output()?;
    Ok(String::from_utf8(output.stdout)?.trim().parse()?)
}

/// Reads a `kB` field of `/proc/{pid}/status`, such as `VmRSS` or `VmHWM`.
fn proc_status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .strip_prefix(':')?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Prints the machine the figures come from.
fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|name| name.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let wrk = Command::new("wrk")
        .arg("--version")
        .output()
        .map(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    println!("machine: {cpu}, {cores} cores; {wrk}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_report() {
        let report = "Running 10s test @ http://127.0.0.1:1/\n  1 threads and 32 connections\n  \
            Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency     1.20ms  300.00us   9.00ms   90.00%\n  \
            Latency Distribution\n     50%  1.10ms\n     75%    1.30ms\n     90%  1.50ms\n     99%  812.00us\n  \
            123456 requests in 10.00s, 50.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n  \
            Non-2xx or 3xx responses: 7\nRequests/sec:  12345.60\nTransfer/sec:      5.00MB\n";
        let result = parse_wrk(report).unwrap();
        assert_eq!(result.requests, 123456);
        assert!((result.rps - 12345.6).abs() < 1e-9);
        assert!((result.p50_ms - 1.1).abs() < 1e-9);
        assert!((result.p99_ms - 0.812).abs() < 1e-9);
        assert_eq!(result.non_2xx, 7);
        assert_eq!(result.socket_errors, 3);
    }

    #[test]
    fn converts_wrk_durations() {
        assert!((duration_ms("250.00us").unwrap() - 0.25).abs() < 1e-9);
        assert!((duration_ms("1.50s").unwrap() - 1500.0).abs() < 1e-9);
        assert!(duration_ms("3h").is_err());
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
