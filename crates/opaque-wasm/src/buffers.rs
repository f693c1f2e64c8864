//! The two buffers shared with JavaScript. The module is single-threaded (one instance per
//! page), so each buffer lives in a thread-local.

use std::cell::RefCell;

use zeroize::Zeroize;

thread_local! {
    static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Makes the input buffer `len` bytes long (zeros) and returns its address, for the caller
/// to write the inputs into; 0 for a negative length.
#[allow(unsafe_code)] // `no_mangle`: the symbol is the interface
#[no_mangle]
pub extern "C" fn input(len: i32) -> usize {
    let Ok(len) = usize::try_from(len) else {
        return 0;
    };
    INPUT.with_borrow_mut(|buf| {
        buf.zeroize();
        buf.resize(len, 0);
        buf.as_mut_ptr() as usize
    })
}

/// The address of the last result.
#[allow(unsafe_code)] // `no_mangle`: the symbol is the interface
#[no_mangle]
pub extern "C" fn output() -> usize {
    OUTPUT.with_borrow(|buf| buf.as_ptr() as usize)
}

/// The length of the last result.
#[allow(unsafe_code)] // `no_mangle`: the symbol is the interface
#[no_mangle]
pub extern "C" fn output_len() -> i32 {
    OUTPUT.with_borrow(|buf| i32::try_from(buf.len()).unwrap_or(0))
}

/// Runs `f` on the input, then wipes it (it held a password).
pub(crate) fn with_input<T>(f: impl FnOnce(&[u8]) -> T) -> T {
    INPUT.with_borrow_mut(|buf| {
        OUTPUT.with_borrow_mut(|out| out.zeroize());
        let result = f(buf);
        buf.zeroize();
        result
    })
}

/// Keeps `bytes` as the result (the previous one wiped).
pub(crate) fn set_output(bytes: Vec<u8>) {
    OUTPUT.with_borrow_mut(|out| {
        out.zeroize();
        *out = bytes;
    });
}
