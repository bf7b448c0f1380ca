//! The awsJson request decoding (issue "Reliability and security proof suite", hostile input):
//! any bytes, for any operation, give a decoded input or an error in the documented shape.
#![no_main]

use ace_server::partner_api::{decode_input, Operation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let operation = Operation::ALL[pick as usize % Operation::ALL.len()];
    if let Err(e) = decode_input(operation, body) {
        let shape = e.body();
        let (code, status) = e.aws_code();
        assert_eq!(shape["__type"], code);
        assert!(shape["message"].is_string());
        assert!(status.is_client_error(), "{code} for a bad request body");
    }
});
