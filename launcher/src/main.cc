// kolorun: the Kolo job launcher. See kolo/launcher/launcher.h.
#include <unistd.h>

#include "kolo/launcher/launcher.h"

int main(int argc, char** argv) {
  return kolo::launcher::runKolorun(argc, argv, environ);
}
