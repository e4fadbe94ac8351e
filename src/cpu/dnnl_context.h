// TEMPORARY skeleton: replaced by the oneDNN context.
#pragma once
namespace useg::cpu { struct DnnlContext {}; }
