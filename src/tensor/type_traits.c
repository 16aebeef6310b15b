#include "tensor/type_traits.h"

#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "base/mem.h"
#include "tensor/isa/dot.h"
#include "tensor/isa/dot_k.h"
#include "tensor/quants.h"
#include "tensor/quants_g4.h"
#include "tensor/quants_k.h"
#include "tensor/quants_kg.h"
#include "tensor/quants_q4k_r8.h"
#include "tensor/quants_q6k_r8.h"
#include "tensor/quants_q4_0_r8.h"
#include "tensor/quants_ternary.h"
#include "tensor/quants_tl.h"

/* Layouts follow ggml for every id we share with it, so that GGUF files from
 * llama.cpp validate and load. Types without converters still carry their
 * sizes: a file that holds them is valid, we just cannot compute with them. */
static const rz_type_traits type_table[RZ_TYPE_COUNT] = {
    [RZ_TYPE_F32] = {.name = "f32",
                     .block_size = 1,
                     .block_bytes = 4,
                     .to_float = rz_f32_to_f32_row,
                     .from_float = rz_f32_from_f32_row,
                     .vec_dot_type = RZ_TYPE_F32,
                     .vec_dot = {rz_vec_dot_f32, rz_vec_dot_f32_avx2, rz_vec_dot_f32_avx512},
                     .from_float_act = {rz_f32_from_f32_row}},
    [RZ_TYPE_F16] =
        {.name = "f16",
         .block_size = 1,
         .block_bytes = 2,
         .to_float = rz_fp16_to_f32_row,
         .from_float = rz_f32_to_fp16_row,
         .vec_dot_type = RZ_TYPE_F16_ACT, /* float activations: one conversion per product, not two */
         .vec_dot = {rz_vec_dot_f16, rz_vec_dot_f16_avx2, rz_vec_dot_f16_avx512},
         .vec_dot2 = {[RZ_ISA_AVX512] = rz_vec_dot2_f16_avx512},
         .gemm = {[RZ_ISA_AVX2] = {.tile = rz_gemm_tile_f16_avx2,
                                   .rows = RZ_FLOAT_AVX2_ROWS,
                                   .tokens = RZ_FLOAT_AVX2_TOKENS,
                                   .act_type = RZ_TYPE_F16_ACT},
                  [RZ_ISA_AVX512] =
                      {.tile = rz_gemm_tile_f16_avx512, .rows = 4, .tokens = 6, .act_type = RZ_TYPE_F16_ACT}},
         .from_float_act = {rz_f32_to_fp16_row, rz_f32_to_fp16_row_avx2, rz_f32_to_fp16_row_avx512}},
    [RZ_TYPE_Q4_0] = {.name = "q4_0",
                      .block_size = 32,
                      .block_bytes = 18,
                      .is_quantized = true,
                      .to_float = rz_dequantize_row_q4_0,
                      .from_float = rz_quantize_row_q4_0_ref,
                      .vec_dot_type = RZ_TYPE_Q8_0,
                      .vec_dot = {rz_vec_dot_q4_0_q8_0, rz_vec_dot_q4_0_q8_0_avx2,
                                  rz_vec_dot_q4_0_q8_0_avx512},
                      .gemm = {[RZ_ISA_AVX512] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_q4_0_q8_0_avx512)},
                      /* AVX2: rows interleaved; AVX-512 (no R8 kernel): a row's blocks grouped */
                      .repack = {{rz_repack_q4_0_r8, RZ_TYPE_Q4_0_R8}, {rz_repack_q4_0_g4, RZ_TYPE_Q4_0_G4}}},
    [RZ_TYPE_Q4_1] = {.name = "q4_1",
                      .block_size = 32,
                      .block_bytes = 20,
                      .is_quantized = true,
                      .to_float = rz_dequantize_row_q4_1,
                      .from_float = rz_quantize_row_q4_1_ref,
                      .vec_dot_type = RZ_TYPE_Q8_1,
                      .vec_dot = {rz_vec_dot_q4_1_q8_1, rz_vec_dot_q4_1_q8_1_avx2,
                                  rz_vec_dot_q4_1_q8_1_avx512}},
    [RZ_TYPE_Q5_0] = {.name = "q5_0",
                      .block_size = 32,
                      .block_bytes = 22,
                      .is_quantized = true,
                      .to_float = rz_dequantize_row_q5_0,
                      .from_float = rz_quantize_row_q5_0_ref,
                      .vec_dot_type = RZ_TYPE_Q8_0,
                      .vec_dot = {rz_vec_dot_q5_0_q8_0, rz_vec_dot_q5_0_q8_0_avx2,
                                  rz_vec_dot_q5_0_q8_0_avx512}},
    [RZ_TYPE_Q5_1] = {.name = "q5_1",
                      .block_size = 32,
                      .block_bytes = 24,
                      .is_quantized = true,
                      .to_float = rz_dequantize_row_q5_1,
                      .from_float = rz_quantize_row_q5_1_ref,
                      .vec_dot_type = RZ_TYPE_Q8_1,
                      .vec_dot = {rz_vec_dot_q5_1_q8_1, rz_vec_dot_q5_1_q8_1_avx2,
                                  rz_vec_dot_q5_1_q8_1_avx512}},
    [RZ_TYPE_Q8_0] = {.name = "q8_0",
                      .block_size = 32,
                      .block_bytes = 34,
                      .is_quantized = true,
                      .to_float = rz_dequantize_row_q8_0,
                      .from_float = rz_quantize_row_q8_0_ref,
                      .vec_dot_type = RZ_TYPE_Q8_0,
                      .vec_dot = {rz_vec_dot_q8_0_q8_0, rz_vec_dot_q8_0_q8_0_avx2,
                                  rz_vec_dot_q8_0_q8_0_avx512},
                      .gemm = {[RZ_ISA_AVX512] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_q8_0_q8_0_avx512)},
                      .repack = {{rz_repack_q8_0_g16, RZ_TYPE_Q8_0_G16}},
                      .from_float_act = {rz_quantize_row_q8_0, rz_quantize_row_q8_0_avx2,
                                         rz_quantize_row_q8_0_avx512}},
    [RZ_TYPE_Q8_1] = {.name = "q8_1",
                      .block_size = 32,
                      .block_bytes = 36,
                      .is_quantized = true,
                      .to_float = rz_dequantize_row_q8_1,
                      .vec_dot_type = RZ_TYPE_Q8_1,
                      .from_float_act = {rz_quantize_row_q8_1}},
    [RZ_TYPE_Q2_K] = {.name = "q2_K",
                      .block_size = 256,
                      .block_bytes = 84,
                      .is_quantized = true,
                      .to_float = rz_dequantize_row_q2_K,
                      .from_float = rz_quantize_row_q2_K_ref,
                      .vec_dot_type = RZ_TYPE_Q8_K,
                      .vec_dot = {rz_vec_dot_q2_K_q8_K, rz_vec_dot_q2_K_q8_K_avx2,
                                  rz_vec_dot_q2_K_q8_K_avx512}},
    [RZ_TYPE_Q3_K] = {.name = "q3_K",
                      .block_size = 256,
                      .block_bytes = 110,
                      .is_quantized = true,
                      .to_float = rz_dequantize_row_q3_K,
                      .from_float = rz_quantize_row_q3_K_ref,
                      .vec_dot_type = RZ_TYPE_Q8_K,
                      .vec_dot = {rz_vec_dot_q3_K_q8_K, rz_vec_dot_q3_K_q8_K_avx2,
                                  rz_vec_dot_q3_K_q8_K_avx512},
                      .gemm = {[RZ_ISA_AVX2] = {.tile = rz_gemm_tile_q3_K_q8_K_avx2,
                                                .rows = RZ_GEMM_TILE,
                                                .tokens = RZ_SC16_AVX2_TOKENS},
                               [RZ_ISA_AVX512] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_q3_K_q8_K_avx512)}},
    [RZ_TYPE_Q4_K] = {.name = "q4_K",
                      .block_size = 256,
                      .block_bytes = 144,
                      .is_quantized = true,
                      .to_float = rz_dequantize_row_q4_K,
                      .from_float = rz_quantize_row_q4_K_ref,
                      .vec_dot_type = RZ_TYPE_Q8_K,
                      .vec_dot = {rz_vec_dot_q4_K_q8_K, rz_vec_dot_q4_K_q8_K_avx2,
                                  rz_vec_dot_q4_K_q8_K_avx512},
                      .gemm = {[RZ_ISA_AVX2] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_q4_K_q8_K_avx2),
                               [RZ_ISA_AVX512] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_q4_K_q8_K_avx512)},
                      .repack = {{rz_repack_q4_k_r8, RZ_TYPE_Q4_K_R8}, {rz_repack_q4_k_g, RZ_TYPE_Q4_K_G}}},
    [RZ_TYPE_Q5_K] = {.name = "q5_K",
                      .block_size = 256,
                      .block_bytes = 176,
                      .is_quantized = true,
                      .to_float = rz_dequantize_row_q5_K,
                      .from_float = rz_quantize_row_q5_K_ref,
                      .vec_dot_type = RZ_TYPE_Q8_K,
                      .vec_dot = {rz_vec_dot_q5_K_q8_K, rz_vec_dot_q5_K_q8_K_avx2,
                                  rz_vec_dot_q5_K_q8_K_avx512},
                      .gemm = {[RZ_ISA_AVX2] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_q5_K_q8_K_avx2),
                               [RZ_ISA_AVX512] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_q5_K_q8_K_avx512)}},
    [RZ_TYPE_Q6_K] = {.name = "q6_K",
                      .block_size = 256,
                      .block_bytes = 210,
                      .is_quantized = true,
                      .to_float = rz_dequantize_row_q6_K,
                      .from_float = rz_quantize_row_q6_K_ref,
                      .vec_dot_type = RZ_TYPE_Q8_K,
                      .vec_dot = {rz_vec_dot_q6_K_q8_K, rz_vec_dot_q6_K_q8_K_avx2,
                                  rz_vec_dot_q6_K_q8_K_avx512},
                      .gemm = {[RZ_ISA_AVX2] = {.tile = rz_gemm_tile_q6_K_q8_K_avx2,
                                                .rows = RZ_GEMM_TILE,
                                                .tokens = RZ_SC16_AVX2_TOKENS},
                               [RZ_ISA_AVX512] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_q6_K_q8_K_avx512)},
                      .repack = {{rz_repack_q6_k_r8, RZ_TYPE_Q6_K_R8}}},
    [RZ_TYPE_Q8_K] = {.name = "q8_K",
                      .block_size = 256,
                      .block_bytes = 292,
                      .is_quantized = true,
                      .to_float = rz_dequantize_row_q8_K,
                      .vec_dot_type = RZ_TYPE_Q8_K,
                      .from_float_act = {rz_quantize_row_q8_K, rz_quantize_row_q8_K_avx2}},
    [RZ_TYPE_IQ2_XXS] = {.name = "iq2_xxs", .block_size = 256, .block_bytes = 66, .is_quantized = true},
    [RZ_TYPE_IQ2_XS] = {.name = "iq2_xs", .block_size = 256, .block_bytes = 74, .is_quantized = true},
    [RZ_TYPE_IQ3_XXS] = {.name = "iq3_xxs", .block_size = 256, .block_bytes = 98, .is_quantized = true},
    [RZ_TYPE_IQ1_S] = {.name = "iq1_s", .block_size = 256, .block_bytes = 50, .is_quantized = true},
    [RZ_TYPE_IQ4_NL] = {.name = "iq4_nl",
                        .block_size = 32,
                        .block_bytes = 18,
                        .is_quantized = true,
                        .to_float = rz_dequantize_row_iq4_nl,
                        .from_float = rz_quantize_row_iq4_nl_ref,
                        .vec_dot_type = RZ_TYPE_Q8_0,
                        .vec_dot = {rz_vec_dot_iq4_nl_q8_0, rz_vec_dot_iq4_nl_q8_0_avx2,
                                    rz_vec_dot_iq4_nl_q8_0_avx512},
                        .gemm = {[RZ_ISA_AVX2] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_iq4_nl_q8_0_avx2),
                                 [RZ_ISA_AVX512] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_iq4_nl_q8_0_avx512)}},
    [RZ_TYPE_IQ3_S] = {.name = "iq3_s", .block_size = 256, .block_bytes = 110, .is_quantized = true},
    [RZ_TYPE_IQ2_S] = {.name = "iq2_s", .block_size = 256, .block_bytes = 82, .is_quantized = true},
    [RZ_TYPE_IQ4_XS] = {.name = "iq4_xs", .block_size = 256, .block_bytes = 136, .is_quantized = true},
    [RZ_TYPE_I8] = {.name = "i8", .block_size = 1, .block_bytes = 1},
    [RZ_TYPE_I16] = {.name = "i16", .block_size = 1, .block_bytes = 2},
    [RZ_TYPE_I32] = {.name = "i32", .block_size = 1, .block_bytes = 4},
    [RZ_TYPE_I64] = {.name = "i64", .block_size = 1, .block_bytes = 8},
    [RZ_TYPE_F64] = {.name = "f64", .block_size = 1, .block_bytes = 8},
    [RZ_TYPE_IQ1_M] = {.name = "iq1_m", .block_size = 256, .block_bytes = 56, .is_quantized = true},
    [RZ_TYPE_BF16] = {.name = "bf16",
                      .block_size = 1,
                      .block_bytes = 2,
                      .to_float = rz_bf16_to_f32_row,
                      .from_float = rz_f32_to_bf16_row,
                      .vec_dot_type = RZ_TYPE_BF16,
                      .vec_dot = {rz_vec_dot_bf16, rz_vec_dot_bf16_avx2, rz_vec_dot_bf16_avx512},
                      .gemm = {[RZ_ISA_AVX2] = {.tile = rz_gemm_tile_bf16_avx2,
                                                .rows = RZ_FLOAT_AVX2_ROWS,
                                                .tokens = RZ_FLOAT_AVX2_TOKENS,
                                                .act_type = RZ_TYPE_BF16_ACT},
                               [RZ_ISA_AVX512] = {.tile = rz_gemm_tile_bf16_avx512,
                                                  .rows = 4,
                                                  .tokens = 6,
                                                  .act_type = RZ_TYPE_BF16_ACT}},
                      .from_float_act = {rz_f32_to_bf16_row, rz_f32_to_bf16_row_avx2,
                                         rz_f32_to_bf16_row_avx512}},
    [RZ_TYPE_TQ1_0] = {.name = "tq1_0",
                       .block_size = 256,
                       .block_bytes = 54,
                       .is_quantized = true,
                       .to_float = rz_dequantize_row_tq1_0,
                       .from_float = rz_quantize_row_tq1_0_ref,
                       .quantize_tensor = rz_quantize_tensor_tq1_0,
                       .vec_dot_type = RZ_TYPE_Q8_K,
                       .vec_dot = {rz_vec_dot_tq1_0_q8_K, rz_vec_dot_tq1_0_q8_K_avx2,
                                   rz_vec_dot_tq1_0_q8_K_avx512},
                       .gemm = {[RZ_ISA_AVX512] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_tq1_0_q8_K_avx512)},
                       .repack = {{rz_repack_tq1_0_g, RZ_TYPE_TQ2_0_G}}},
    [RZ_TYPE_TQ2_0] = {.name = "tq2_0",
                       .block_size = 256,
                       .block_bytes = 66,
                       .is_quantized = true,
                       .to_float = rz_dequantize_row_tq2_0,
                       .from_float = rz_quantize_row_tq2_0_ref,
                       .quantize_tensor = rz_quantize_tensor_tq2_0,
                       .vec_dot_type = RZ_TYPE_Q8_K,
                       .vec_dot = {rz_vec_dot_tq2_0_q8_K, rz_vec_dot_tq2_0_q8_K_avx2,
                                   rz_vec_dot_tq2_0_q8_K_avx512},
                       .gemm = {[RZ_ISA_AVX2] = {.tile = rz_gemm_tile_tq2_0_q8_K_avx2,
                                                 .rows = RZ_TQ2_AVX2_ROWS,
                                                 .tokens = RZ_TQ2_AVX2_TOKENS},
                                [RZ_ISA_AVX512] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_tq2_0_q8_K_avx512)},
                       .repack = {{rz_repack_tq2_0_g, RZ_TYPE_TQ2_0_G}}},
    /* Groups of 128 2-bit codes in 32 bytes, then a 32-byte trailer holding
     * the scale: to_float and quantize_tensor take whole tensors (no row
     * quantizer: rows cannot hold the scale), vec_dot leaves the scale to
     * rz_matmul (rz_tensor.scale, set at load). */
    [RZ_TYPE_I2_S] = {.name = "i2_s",
                      .block_size = 128,
                      .block_bytes = 32,
                      .trailer_bytes = 32,
                      .is_quantized = true,
                      .tensor_scale = true,
                      .to_float = rz_dequantize_i2_s,
                      .quantize_tensor = rz_quantize_tensor_i2_s,
                      .vec_dot_type = RZ_TYPE_I8_S,
                      .vec_dot = {rz_vec_dot_i2_s_i8_s, rz_vec_dot_i2_s_i8_s_avx2,
                                  rz_vec_dot_i2_s_i8_s_avx512},
                      .vec_dot2 = {[RZ_ISA_AVX512] = rz_vec_dot2_i2_s_i8_s_avx512},
                      .gemm = {[RZ_ISA_AVX2] = {.tile = rz_gemm_tile_i2_s_i8_s_avx2,
                                                .rows = RZ_I2S_AVX2_ROWS,
                                                .tokens = RZ_I2S_AVX2_TOKENS},
                               [RZ_ISA_AVX512] = {.tile = rz_gemm_tile_i2_s_i8_s_avx512,
                                                  .rows = RZ_I2S_TILE_ROWS,
                                                  .tokens = RZ_I2S_TILE_TOKENS}},
                      .repack = {{rz_repack_i2_s_tl, RZ_TYPE_I2_TL}}},
    [RZ_TYPE_I8_S] = {.name = "i8_s",
                      .runtime_only = true,
                      .block_size = 128,
                      .block_bytes = sizeof(rz_block_i8_s),
                      .is_quantized = true,
                      .from_float_act = {rz_quantize_row_i8_s, rz_quantize_row_i8_s_avx2,
                                         rz_quantize_row_i8_s_avx512}},
    [RZ_TYPE_MXFP4] = {.name = "mxfp4",
                       .block_size = 32,
                       .block_bytes = 17,
                       .is_quantized = true,
                       .to_float = rz_dequantize_row_mxfp4,
                       .from_float = rz_quantize_row_mxfp4_ref,
                       .vec_dot_type = RZ_TYPE_Q8_0,
                       .vec_dot = {rz_vec_dot_mxfp4_q8_0, rz_vec_dot_mxfp4_q8_0_avx2,
                                   rz_vec_dot_mxfp4_q8_0_avx512},
                       .gemm = {[RZ_ISA_AVX2] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_mxfp4_q8_0_avx2),
                                [RZ_ISA_AVX512] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_mxfp4_q8_0_avx512)}},
    [RZ_TYPE_F16_ACT] = {.name = "f16_act",
                         .block_size = 1,
                         .block_bytes = 4,
                         .runtime_only = true,
                         .to_float = rz_f32_to_f32_row,
                         .from_float_act = {rz_f32_to_f16_act_row, rz_f32_to_f16_act_row_avx2,
                                            rz_f32_to_f16_act_row_avx512}},
    [RZ_TYPE_BF16_ACT] = {.name = "bf16_act",
                          .block_size = 1,
                          .block_bytes = 4,
                          .runtime_only = true,
                          .to_float = rz_bf16_act_to_f32_row,
                          .from_float_act = {rz_f32_to_bf16_act_row, rz_f32_to_bf16_act_row_avx2,
                                             rz_f32_to_bf16_act_row_avx512}},
    [RZ_TYPE_Q4_0_G4] = {.name = "q4_0_g4",
                         .block_size = RZ_QK_G4,
                         .block_bytes = sizeof(rz_block_q4_0_g4),
                         .is_quantized = true,
                         .runtime_only = true,
                         .to_float = rz_dequantize_row_q4_0_g4,
                         .vec_dot_type = RZ_TYPE_A8_G4,
                         .vec_dot = {rz_vec_dot_q4_0_g4_a8_g4, rz_vec_dot_q4_0_g4_a8_g4_avx2,
                                     rz_vec_dot_q4_0_g4_a8_g4_avx512},
                         .gemm = {[RZ_ISA_AVX2] = {.tile = rz_gemm_tile_q4_0_g4_a8_g4_avx2,
                                                   .rows = RZ_G4_AVX2_ROWS,
                                                   .tokens = RZ_G4_AVX2_TOKENS},
                                  [RZ_ISA_AVX512] =
                                      RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_q4_0_g4_a8_g4_avx512)}},
    [RZ_TYPE_Q8_0_G16] = {.name = "q8_0_g16",
                          .block_size = 32,
                          .block_bytes = sizeof(rz_block_q8_0),
                          .is_quantized = true,
                          .runtime_only = true,
                          .to_float = rz_dequantize_row_q8_0_g16,
                          .vec_dot_type = RZ_TYPE_A8_G16,
                          .vec_dot = {rz_vec_dot_q8_0_g16_a8_g16, rz_vec_dot_q8_0_g16_a8_g16_avx2,
                                      rz_vec_dot_q8_0_g16_a8_g16_avx512},
                          .gemm = {[RZ_ISA_AVX2] = {.tile = rz_gemm_tile_q8_0_g16_a8_g16_avx2,
                                                    .rows = RZ_G16_AVX2_ROWS,
                                                    .tokens = RZ_G16_AVX2_TOKENS},
                                   [RZ_ISA_AVX512] =
                                       RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_q8_0_g16_a8_g16_avx512)}},
    [RZ_TYPE_A8_G16] = {.name = "a8_g16",
                        .block_size = 32,
                        .block_bytes = RZ_A8_G16_BLOCK_BYTES,
                        .is_quantized = true,
                        .runtime_only = true,
                        .from_float_act = {rz_quantize_row_a8_g16, rz_quantize_row_a8_g16_avx2,
                                           rz_quantize_row_a8_g16_avx512}},
    [RZ_TYPE_A8_G4] = {.name = "a8_g4",
                       .block_size = RZ_QK_G4,
                       .block_bytes = sizeof(rz_block_a8_g4),
                       .is_quantized = true,
                       .runtime_only = true,
                       .from_float_act = {rz_quantize_row_a8_g4, rz_quantize_row_a8_g4_avx2,
                                          rz_quantize_row_a8_g4_avx512}},
    [RZ_TYPE_Q4_K_G] = {.name = "q4_k_g",
                        .block_size = RZ_QK_K,
                        .block_bytes = sizeof(rz_block_q4_k_g),
                        .is_quantized = true,
                        .runtime_only = true,
                        .to_float = rz_dequantize_row_q4_k_g,
                        .vec_dot_type = RZ_TYPE_A8_K,
                        .vec_dot = {rz_vec_dot_q4_k_g_a8_k, rz_vec_dot_q4_k_g_a8_k_avx2,
                                    rz_vec_dot_q4_k_g_a8_k_avx512},
                        .gemm = {[RZ_ISA_AVX2] = {.tile = rz_gemm_tile_q4_k_g_a8_k_avx2,
                                                  .rows = RZ_KG_AVX2_ROWS,
                                                  .tokens = RZ_KG_AVX2_TOKENS},
                                 [RZ_ISA_AVX512] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_q4_k_g_a8_k_avx512)}},
    [RZ_TYPE_A8_K] = {.name = "a8_k",
                      .block_size = RZ_QK_K,
                      .block_bytes = sizeof(rz_block_a8_k),
                      .is_quantized = true,
                      .runtime_only = true,
                      .from_float_act = {rz_quantize_row_a8_k, rz_quantize_row_a8_k_avx2,
                                         rz_quantize_row_a8_k_avx512}},
    [RZ_TYPE_TQ2_0_G] = {.name = "tq2_0_g",
                         .block_size = RZ_QK_TQ,
                         .block_bytes = sizeof(rz_block_tq2_0_g),
                         .is_quantized = true,
                         .runtime_only = true,
                         .to_float = rz_dequantize_row_tq2_0_g,
                         .vec_dot_type = RZ_TYPE_Q8_K,
                         .vec_dot = {rz_vec_dot_tq2_0_g_q8_K, [RZ_ISA_AVX512] =
                                                                  rz_vec_dot_tq2_0_g_q8_K_avx512},
                         .gemm = {[RZ_ISA_AVX512] = RZ_GEMM_DEFAULT_SHAPE(rz_gemm_tile_tq2_0_g_q8_K_avx512)}},
    /* Row-interleaved (quants_tl.h): only tiles, no row decoder. Blocks are
     * an allotment (RZ_TL_BLOCK_BYTES per 256 weights of a row) that row
     * groups fill up to their last quad pair. */
    [RZ_TYPE_I2_TL] = {.name = "i2_tl",
                       .block_size = 256,
                       .block_bytes = RZ_TL_BLOCK_BYTES,
                       .is_quantized = true,
                       .tensor_scale = true,
                       .runtime_only = true,
                       .batches_slower = true,
                       .vec_dot_type = RZ_TYPE_I8_TL,
                       .gemm = {[RZ_ISA_SCALAR] = {.tile = rz_gemm_tile_i2_tl_i8_tl,
                                                   .rows = RZ_TL_ROWS,
                                                   .tokens = 1,
                                                   .interleaved = true},
                                [RZ_ISA_AVX512] = {.tile = rz_gemm_tile_i2_tl_i8_tl_avx512,
                                                   .rows = RZ_TL_TILE_ROWS,
                                                   .tokens = RZ_TL_TOKENS,
                                                   .interleaved = true}}},
    /* Row-interleaved (quants_q4_0_r8.h): tiles only, a group's rows per call. */
    [RZ_TYPE_Q4_0_R8] = {.name = "q4_0_r8",
                         .block_size = RZ_QK4_0,
                         .block_bytes = sizeof(rz_block_q4_0),
                         .is_quantized = true,
                         .runtime_only = true,
                         .vec_dot_type = RZ_TYPE_A8_R8,
                         .gemm = {[RZ_ISA_SCALAR] = {.tile = rz_gemm_tile_q4_0_r8_a8_r8,
                                                     .rows = RZ_R8_ROWS,
                                                     .tokens = 1,
                                                     .interleaved = true},
                                  [RZ_ISA_AVX2] = {.tile = rz_gemm_tile_q4_0_r8_a8_r8_avx2,
                                                   .rows = RZ_R8_ROWS,
                                                   .tokens = RZ_R8_AVX2_TOKENS,
                                                   .interleaved = true}}},
    [RZ_TYPE_A8_R8] = {.name = "a8_r8",
                       .block_size = RZ_QK8_0,
                       .block_bytes = sizeof(rz_block_a8_r8),
                       .is_quantized = true,
                       .runtime_only = true,
                       .from_float_act = {rz_quantize_row_a8_r8, rz_quantize_row_a8_r8_avx2}},
    [RZ_TYPE_I8_TL] = {.name = "i8_tl",
                       .block_size = 256,
                       .block_bytes = RZ_TL_ACT_BLOCK,
                       .is_quantized = true,
                       .runtime_only = true,
                       .from_float_act = {rz_quantize_row_i8_tl, [RZ_ISA_AVX512] =
                                                                     rz_quantize_row_i8_tl_avx512}},
    /* Row-interleaved (quants_q6k_r8.h): only tiles, no row decoder. AVX2
     * only: AVX-512 keeps the stored Q6_K. */
    [RZ_TYPE_Q6_K_R8] = {.name = "q6_k_r8",
                         .block_size = 256,
                         .block_bytes = 210,
                         .is_quantized = true,
                         .runtime_only = true,
                         .vec_dot_type = RZ_TYPE_Q8_K,
                         .gemm = {[RZ_ISA_SCALAR] = {.tile = rz_gemm_tile_q6_k_r8_q8_K,
                                                     .rows = RZ_Q6_K_R8_ROWS,
                                                     .tokens = 1,
                                                     .interleaved = true},
                                  [RZ_ISA_AVX2] = {.tile = rz_gemm_tile_q6_k_r8_q8_K_avx2,
                                                   .rows = RZ_Q6_K_R8_ROWS,
                                                   .tokens = RZ_Q6_K_R8_AVX2_TOKENS,
                                                   .interleaved = true}}},
    /* Row-interleaved (quants_q4k_r8.h), as Q6_K_R8. AVX2 only: AVX-512
     * takes Q4_K_G, whose vpdpbusd tile is faster there. */
    [RZ_TYPE_Q4_K_R8] = {.name = "q4_k_r8",
                         .block_size = 256,
                         .block_bytes = 144,
                         .is_quantized = true,
                         .runtime_only = true,
                         .vec_dot_type = RZ_TYPE_Q8_K,
                         .gemm = {[RZ_ISA_SCALAR] = {.tile = rz_gemm_tile_q4_k_r8_q8_K,
                                                     .rows = RZ_Q4_K_R8_ROWS,
                                                     .tokens = 1,
                                                     .interleaved = true},
                                  [RZ_ISA_AVX2] = {.tile = rz_gemm_tile_q4_k_r8_q8_K_avx2,
                                                   .rows = RZ_Q4_K_R8_ROWS,
                                                   .tokens = RZ_Q4_K_R8_AVX2_TOKENS,
                                                   .interleaved = true}}},
};

const rz_type_traits *rz_type_traits_get(rz_type type) {
    if ((unsigned)type >= RZ_TYPE_COUNT || !type_table[type].name) return NULL;
    return &type_table[type];
}

/* The ISA whose vec_dot rz_type_vec_dot picks (-1: none). */
static int vec_dot_isa(const rz_type_traits *t, rz_isa isa) {
    int i = t ? (int)isa : -1;
    while (i >= 0 && !t->vec_dot[i])
        i--;
    return i;
}

rz_vec_dot_fn rz_type_vec_dot(rz_type type, rz_isa isa) {
    const rz_type_traits *t = rz_type_traits_get(type);
    const int i = vec_dot_isa(t, isa);
    return i < 0 ? NULL : t->vec_dot[i];
}

rz_vec_dot2_fn rz_type_vec_dot2(rz_type type, rz_isa isa) {
    const rz_type_traits *t = rz_type_traits_get(type);
    const int i = vec_dot_isa(t, isa);
    return i < 0 ? NULL : t->vec_dot2[i];
}

rz_from_float_fn rz_type_from_float_act(rz_type type, rz_isa isa) {
    const rz_type_traits *t = rz_type_traits_get(type);
    if (!t) return NULL;
    for (int i = (int)isa; i >= 0; i--)
        if (t->from_float_act[i]) return t->from_float_act[i];
    return NULL;
}

const rz_gemm_kernel *rz_type_gemm(rz_type type, rz_isa isa) {
    const rz_type_traits *t = rz_type_traits_get(type);
    if (!t) return NULL;
    for (int i = (int)isa; i >= 0; i--)
        if (t->gemm[i].tile) return &t->gemm[i];
    return NULL;
}

rz_type rz_type_act_type(rz_type type, const rz_gemm_kernel *gemm) {
    return gemm && gemm->act_type != RZ_TYPE_F32 ? gemm->act_type : rz_type_traits_get(type)->vec_dot_type;
}

rz_type rz_type_runtime_layout(rz_type type, int64_t ne0, int64_t ne1, rz_isa isa) {
    const rz_type_traits *t = rz_type_traits_get(type);
    /* Only where the layout has an optimized kernel for this very ISA: its
     * scalar reference (or a fallback to it) is slower than the stored
     * layout's kernel. */
    if (!t || isa == RZ_ISA_SCALAR) return type;
    for (int i = 0; i < RZ_MAX_REPACKS && t->repack[i].fn; i++)
        if (rz_type_layout_fits(t->repack[i].type, ne0, ne1, isa)) return t->repack[i].type;
    return type;
}

bool rz_type_layout_fits(rz_type layout, int64_t ne0, int64_t ne1, rz_isa isa) {
    const rz_type_traits *r = rz_type_traits_get(layout);
    const rz_gemm_kernel *g = &r->gemm[isa];
    if (!(r->vec_dot[isa] || (g->tile && g->interleaved)) || ne0 % r->block_size != 0) return false;
    return !g->interleaved || ne1 % g->rows == 0;
}

rz_repack_fn rz_type_repack(rz_type from, rz_type to) {
    const rz_type_traits *t = rz_type_traits_get(from);
    for (int i = 0; t && i < RZ_MAX_REPACKS && t->repack[i].fn; i++)
        if (t->repack[i].type == to) return t->repack[i].fn;
    return NULL;
}

bool rz_type_file_type(rz_type type, uint32_t *out) {
    switch (type) {
    case RZ_TYPE_F32: *out = 0; return true;
    case RZ_TYPE_F16: *out = 1; return true;
    case RZ_TYPE_Q4_0: *out = 2; return true;
    case RZ_TYPE_Q4_1: *out = 3; return true;
    case RZ_TYPE_Q8_0: *out = 7; return true;
    case RZ_TYPE_Q5_0: *out = 8; return true;
    case RZ_TYPE_Q5_1: *out = 9; return true;
    case RZ_TYPE_Q2_K: *out = 10; return true;
    case RZ_TYPE_Q6_K: *out = 18; return true;
    case RZ_TYPE_IQ4_NL: *out = 25; return true;
    case RZ_TYPE_BF16: *out = 32; return true;
    case RZ_TYPE_TQ1_0: *out = 36; return true;
    case RZ_TYPE_TQ2_0: *out = 37; return true;
    case RZ_TYPE_MXFP4: *out = 38; return true; /* LLAMA_FTYPE_MOSTLY_MXFP4_MOE */
    case RZ_TYPE_I2_S: *out = 40; return true;
    default: return false;
    }
}

const char *rz_type_name(rz_type type) {
    const rz_type_traits *t = rz_type_traits_get(type);
    return t ? t->name : NULL;
}

rz_status rz_type_from_name(const char *name, rz_type *out) {
    for (int i = 0; i < RZ_TYPE_COUNT; i++) {
        if (type_table[i].name && strcasecmp(type_table[i].name, name) == 0) {
            *out = (rz_type)i;
            return RZ_OK;
        }
    }
    return rz_error(RZ_ERR_NOT_FOUND, "unknown tensor type '%s'", name);
}

bool rz_type_known(rz_type type) { return rz_type_traits_get(type) != NULL; }

bool rz_type_can_dequantize(rz_type type) {
    const rz_type_traits *t = rz_type_traits_get(type);
    return t && t->to_float;
}

bool rz_type_can_quantize(rz_type type) {
    const rz_type_traits *t = rz_type_traits_get(type);
    return t && (t->from_float || t->quantize_tensor);
}

uint32_t rz_type_block_size(rz_type type) {
    const rz_type_traits *t = rz_type_traits_get(type);
    return t ? t->block_size : 0;
}

uint32_t rz_type_block_bytes(rz_type type) {
    const rz_type_traits *t = rz_type_traits_get(type);
    return t ? t->block_bytes : 0;
}

rz_status rz_type_tensor_bytes(rz_type type, uint64_t n_elements, uint64_t *out) {
    const rz_type_traits *t = rz_type_traits_get(type);
    if (!t) return rz_error(RZ_ERR_UNSUPPORTED, "unknown tensor type id %d", (int)type);
    if (n_elements % t->block_size != 0)
        return rz_error(RZ_ERR_FORMAT, "%llu elements is not a multiple of the %s block size %u",
                        (unsigned long long)n_elements, t->name, t->block_size);
    uint64_t bytes;
    if (rz_mul_overflow(n_elements / t->block_size, t->block_bytes, &bytes) ||
        rz_add_overflow(bytes, t->trailer_bytes, &bytes))
        return rz_error(RZ_ERR_RANGE, "size of a %s tensor of %llu elements overflows", t->name,
                        (unsigned long long)n_elements);
    *out = bytes;
    return RZ_OK;
}

rz_status rz_dequantize(rz_type type, const void *src, float *dst, uint64_t n) {
    const rz_type_traits *t = rz_type_traits_get(type);
    if (!t || !t->to_float)
        return rz_error(RZ_ERR_UNSUPPORTED, "cannot dequantize type %s", t ? t->name : "(unknown)");
    if (n % t->block_size != 0)
        return rz_error(RZ_ERR_INVALID_ARG, "%llu values is not a multiple of the %s block size %u",
                        (unsigned long long)n, t->name, t->block_size);
    t->to_float(src, dst, (int64_t)n);
    return RZ_OK;
}

rz_status rz_quantize(rz_type type, const float *src, void *dst, uint64_t n) {
    const rz_type_traits *t = rz_type_traits_get(type);
    if (!t || !t->from_float)
        return rz_error(RZ_ERR_UNSUPPORTED, "cannot quantize to type %s", t ? t->name : "(unknown)");
    if (n % t->block_size != 0)
        return rz_error(RZ_ERR_INVALID_ARG, "%llu values is not a multiple of the %s block size %u",
                        (unsigned long long)n, t->name, t->block_size);
    t->from_float(src, dst, (int64_t)n);
    return RZ_OK;
}

/* llama.cpp's tensor_type_fallback; F16 where it has none (and gives up). */
rz_type rz_type_for_row(rz_type type, uint64_t row_len) {
    if (row_len % rz_type_block_size(type) == 0) return type;
    switch (type) {
    case RZ_TYPE_Q2_K:
    case RZ_TYPE_Q3_K:
    case RZ_TYPE_TQ1_0:
    case RZ_TYPE_TQ2_0: type = RZ_TYPE_Q4_0; break;
    case RZ_TYPE_Q4_K: type = RZ_TYPE_Q5_0; break;
    case RZ_TYPE_Q5_K: type = RZ_TYPE_Q5_1; break;
    case RZ_TYPE_Q6_K: type = RZ_TYPE_Q8_0; break;
    default: type = RZ_TYPE_F16; break;
    }
    return row_len % rz_type_block_size(type) == 0 ? type : RZ_TYPE_F16;
}
