// Cost models of the registered algorithms (algorithm_registry.h): latency steps and bytes per
// payload byte for world size n, and estimated seconds over a SelectionContext for the entries
// the selector compares. Derived from each algorithm's communication pattern.
// Thread: any (pure functions).
#pragma once

#include "kolo/collectives/algorithm_registry.h"

namespace kolo::coll::cost {

double ringAllreduceSteps(int n);
double ringAllreduceBytes(int n);
double rdSteps(int n);  // also rd's bytes factor: the whole buffer moves every round
double shmAllreduceSteps(int n);
double ringPhaseSteps(int n);
double ringPhaseBytes(int n);
double treeSteps(int n);
double chainSteps(int n);
double oneIfMany(int n);
double zero(int n);
double hierAllreduceSteps(int n);
double hierAllreduceBytes(int n);
double hierAllgatherSteps(int n);
double hierAllgatherBytes(int n);

double ringAllreduceSeconds(const SelectionContext& ctx);
double rdSeconds(const SelectionContext& ctx);
double shmAllreduceSeconds(const SelectionContext& ctx);
double hierAllreduceSeconds(const SelectionContext& ctx);
double ringAllgatherSeconds(const SelectionContext& ctx);
double hierAllgatherSeconds(const SelectionContext& ctx);

}  // namespace kolo::coll::cost
