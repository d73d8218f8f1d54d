fn main() {
    // rustc passes -nodefaultlibs for a no_std binary; the C runtime (crt1 calling `main`,
    // and memcpy/memset that core's codegen expects from the platform) comes from libc.
    println!("cargo:rustc-link-arg-bins=-lc");
}
