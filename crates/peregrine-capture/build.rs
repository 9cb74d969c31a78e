//! Builds the kernel side and the Rust mirror of its record layout.
//!
//! 1. `vmlinux.h` is generated from the running kernel's BTF (`bpftool btf dump … format c`)
//!    into OUT_DIR, not committed: it is 2.8 MB, generation takes well under a second and has
//!    been reliable here. `PEREGRINE_VMLINUX_H` points at a pre-generated file instead (for
//!    build hosts without /sys/kernel/btf/vmlinux). CO-RE relocations make the object portable
//!    across kernels regardless of which kernel's header it was compiled against.
//! 2. clang compiles `bpf/peregrine.bpf.c` (`-target bpf -g -O2`); the object is embedded in
//!    the crate with `include_bytes!`.
//! 3. bindgen turns `bpf/include/peregrine_record.h` into Rust; `src/layout.rs` asserts at
//!    compile time that peregrine-event's decoder constants match it.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let bpf_dir = manifest.join("../../bpf");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed={}", bpf_dir.display());
    println!("cargo:rerun-if-env-changed=PEREGRINE_VMLINUX_H");
    println!("cargo:rerun-if-env-changed=CLANG");

    let vmlinux = out.join("vmlinux.h");
    match env::var_os("PEREGRINE_VMLINUX_H") {
        Some(p) => {
            std::fs::copy(&p, &vmlinux).unwrap_or_else(|e| {
                panic!(
                    "copying PEREGRINE_VMLINUX_H={}: {e}",
                    Path::new(&p).display()
                )
            });
        }
        None => generate_vmlinux(&vmlinux),
    }

    let obj = out.join("peregrine.bpf.o");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let status = Command::new(&clang)
        .args([
            "-target",
            "bpf",
            "-g",
            "-O2",
            "-Wall",
            "-Werror",
            "-D__TARGET_ARCH_x86",
        ])
        .arg("-I")
        .arg(&out)
        .arg("-I")
        .arg(bpf_dir.join("include"))
        .arg("-c")
        .arg(bpf_dir.join("peregrine.bpf.c"))
        .arg("-o")
        .arg(&obj)
        .status()
        .unwrap_or_else(|e| panic!("running {clang} (Debian package: clang): {e}"));
    assert!(
        status.success(),
        "clang failed to compile bpf/peregrine.bpf.c"
    );

    let bindings = bindgen::Builder::default()
        .header(bpf_dir.join("include/peregrine_record.h").to_string_lossy())
        .allowlist_type("pg_.*")
        .allowlist_var("PG_.*")
        .derive_default(true)
        .layout_tests(false)
        .generate()
        .expect("bindgen over bpf/include/peregrine_record.h (Debian package: libclang-dev)");
    bindings
        .write_to_file(out.join("record_layout.rs"))
        .expect("writing record_layout.rs");
}

fn generate_vmlinux(dest: &Path) {
    let output = Command::new("bpftool")
        .args([
            "btf",
            "dump",
            "file",
            "/sys/kernel/btf/vmlinux",
            "format",
            "c",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("running bpftool (Debian package: bpftool), or set PEREGRINE_VMLINUX_H: {e}")
        });
    assert!(
        output.status.success(),
        "bpftool btf dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(dest, &output.stdout).expect("writing vmlinux.h");
}
