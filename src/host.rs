//! Moving values between the host and a device: token ids onto it as a tensor, and a tensor's
//! values off it as `f32`s. Every caller does it the same way, here.

use burn::tensor::{Device, Int, Tensor, TensorData};

/// The token ids `ids` as one [1, len] row on `device`.
pub fn ids_row(ids: &[u32], device: &Device) -> Tensor<2, Int> {
    let values: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
    Tensor::from_data(TensorData::new(values, [1, ids.len()]), device)
}

/// A tensor's values, row-major, as `f32` on the host.
pub trait HostValues {
    fn host_values(self) -> Vec<f32>;
}

impl<const D: usize> HostValues for Tensor<D> {
    fn host_values(self) -> Vec<f32> {
        self.into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("a float tensor converts to f32")
    }
}
