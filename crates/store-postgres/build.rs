// sqlx::migrate! reads the migrations folder at compile time.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
