// Includes Boost.Process v2 (header-only). Internal to agent/process, the only
// module allowed to use it. Boost 1.81's headers, built with
// BOOST_PROCESS_USE_STD_FS, use boost::optional and unqualified type traits
// (found in namespace boost) without including them: include those first.
#pragma once

#include <boost/optional.hpp>
#include <boost/type_traits.hpp>
// The two above must come first.
#include <boost/process/v2.hpp>
